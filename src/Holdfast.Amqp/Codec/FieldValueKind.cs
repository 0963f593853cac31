namespace Holdfast.Amqp.Codec;

/// <summary>
/// The type of a field-table value, named for what it holds; each member's value is the type octet
/// RabbitMQ puts on the wire. These are RabbitMQ's letters (its 0-9-1 errata), which differ from
/// the spec's own table: the spec's 's' is a short string and 'U' a signed 16-bit integer, where
/// RabbitMQ's 's' is the signed 16-bit integer; the spec has 'L' (signed) and 'l' (unsigned) 64-bit
/// integers, RabbitMQ only 'l' (signed); RabbitMQ adds 'x', a byte array. Clients that talk to
/// RabbitMQ use its letters, so we do too.
/// </summary>
#pragma warning disable CA1028 // The underlying type is the wire octet.
#pragma warning disable CA1720 // The members name the value types they hold, on purpose.
public enum FieldValueKind : byte
{
    Boolean = (byte)'t',
    Int8 = (byte)'b',
    UInt8 = (byte)'B',
    Int16 = (byte)'s',
    UInt16 = (byte)'u',
    Int32 = (byte)'I',
    UInt32 = (byte)'i',
    Int64 = (byte)'l',
    Float32 = (byte)'f',
    Float64 = (byte)'d',
    Decimal = (byte)'D',
    LongString = (byte)'S',
    ByteArray = (byte)'x',
    Array = (byte)'A',
    Timestamp = (byte)'T',
    Table = (byte)'F',
    Void = (byte)'V',
}
#pragma warning restore CA1720
#pragma warning restore CA1028
