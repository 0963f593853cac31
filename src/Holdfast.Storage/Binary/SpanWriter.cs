using System.Buffers.Binary;
using System.Text;

namespace Holdfast.Storage.Binary;

/// <summary>Little-endian writes into a span, advancing as it goes.</summary>
internal ref struct SpanWriter(Span<byte> destination)
{
    private readonly Span<byte> _destination = destination;

    public int Written { get; private set; }

    public void U8(byte value) => _destination[Written++] = value;

    public void U16(ushort value)
    {
        BinaryPrimitives.WriteUInt16LittleEndian(_destination[Written..], value);
        Written += 2;
    }

    public void U32(uint value)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(_destination[Written..], value);
        Written += 4;
    }

    public void I64(long value)
    {
        BinaryPrimitives.WriteInt64LittleEndian(_destination[Written..], value);
        Written += 8;
    }

    public void Bytes(ReadOnlySpan<byte> value)
    {
        value.CopyTo(_destination[Written..]);
        Written += value.Length;
    }

    /// <summary>u16 length then UTF-8 bytes.</summary>
    public void ShortString(string value)
    {
        var length = System.Text.Encoding.UTF8.GetBytes(value, _destination[(Written + 2)..]);
        U16((ushort)length);
        Written += length;
    }

    public static int ShortStringSize(string value)
    {
        var size = System.Text.Encoding.UTF8.GetByteCount(value);
        if (size > ushort.MaxValue)
        {
            throw new ArgumentException($"'{value[..32]}…' is longer than {ushort.MaxValue} UTF-8 bytes.", nameof(value));
        }

        return 2 + size;
    }
}
