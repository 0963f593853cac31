namespace Holdfast.Broker.Messages;

/// <summary>Type tags of header values in the stored message format. On disk: never renumber.</summary>
internal enum HeaderValueTag : byte
{
    Null = 0,
    Boolean = 1,
    Int8 = 2,
    UInt8 = 3,
    Int16 = 4,
    UInt16 = 5,
    Int32 = 6,
    UInt32 = 7,
    Int64 = 8,
    Float32 = 9,
    Float64 = 10,
    Decimal = 11,
    Text = 12,
    Bytes = 13,
    Timestamp = 14,
    Array = 15,
    Table = 16,
}
