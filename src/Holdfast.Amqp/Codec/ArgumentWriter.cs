using System.Buffers.Binary;

namespace Holdfast.Amqp.Codec;

/// <summary>
/// Big-endian writes of AMQP argument types into a span that the caller sized from the values'
/// encoded lengths. Running out of room is a bug in that sizing, so it throws.
/// </summary>
internal ref struct ArgumentWriter(Span<byte> destination)
{
    private readonly Span<byte> _destination = destination;

    public int Position { get; private set; }

    public void WriteOctet(byte value)
    {
        _destination[Position] = value;
        Position += 1;
    }

    public void WriteUInt16(ushort value)
    {
        BinaryPrimitives.WriteUInt16BigEndian(_destination[Position..], value);
        Position += 2;
    }

    public void WriteUInt32(uint value)
    {
        BinaryPrimitives.WriteUInt32BigEndian(_destination[Position..], value);
        Position += 4;
    }

    public void WriteUInt64(ulong value)
    {
        BinaryPrimitives.WriteUInt64BigEndian(_destination[Position..], value);
        Position += 8;
    }

    public void WriteTimestamp(AmqpTimestamp value) => WriteUInt64(value.UnixSeconds);

    public void WriteShortString(ShortString value)
    {
        WriteOctet((byte)value.Length);
        WriteBytes(value.Span);
    }

    public void WriteLongString(LongString value) => WriteByteRun(value.Span);

    /// <summary>A 32-bit length, then the bytes.</summary>
    public void WriteByteRun(ReadOnlySpan<byte> bytes)
    {
        WriteUInt32((uint)bytes.Length);
        WriteBytes(bytes);
    }

    public void WriteBytes(ReadOnlySpan<byte> bytes)
    {
        bytes.CopyTo(_destination[Position..]);
        Position += bytes.Length;
    }

    /// <summary>A table; null (a default-constructed method's table) goes out as the empty table.</summary>
    public void WriteTable(FieldTable? table) => FieldCodec.WriteTable(ref this, table ?? FieldTable.Empty);
}
