namespace Holdfast.CodeGen;

/// <summary>How one AMQP wire type appears in generated C#: its type and the reader/writer calls.</summary>
/// <param name="SizeOf">Encoded byte count, given the C# expression holding the value.</param>
public sealed record WireType(string CSharpType, string ReadMethod, string WriteMethod, Func<string, string> SizeOf)
{
    public static WireType For(string type) => type switch
    {
        "octet" => new("byte", "TryReadOctet", "WriteOctet", _ => "1"),
        "short" => new("ushort", "TryReadUInt16", "WriteUInt16", _ => "2"),
        "long" => new("uint", "TryReadUInt32", "WriteUInt32", _ => "4"),
        "longlong" => new("ulong", "TryReadUInt64", "WriteUInt64", _ => "8"),
        "timestamp" => new("AmqpTimestamp", "TryReadTimestamp", "WriteTimestamp", _ => "8"),
        "shortstr" => new("ShortString", "TryReadShortString", "WriteShortString", value => $"1 + {value}.Length"),
        "longstr" => new("LongString", "TryReadLongString", "WriteLongString", value => $"4 + {value}.Length"),

        // A default-constructed method has a null table; it goes out as the empty table (4 bytes).
        "table" => new("FieldTable", "TryReadTable", "WriteTable", value => $"({value}?.EncodedLength ?? 4)"),
        _ => throw new InvalidDataException($"No C# mapping for wire type '{type}' (bits are packed separately)."),
    };
}
