using System.Buffers.Binary;

namespace Holdfast.Storage.Binary;

/// <summary>Little-endian reads from a span. Running past the end throws <see cref="InvalidDataException"/>: on-disk data is never trusted blindly.</summary>
internal ref struct SpanReader(ReadOnlySpan<byte> source)
{
    private readonly ReadOnlySpan<byte> _source = source;

    public int Position { get; private set; }

    public readonly int Remaining => _source.Length - Position;

    public byte U8() => Take(1)[0];

    public ushort U16() => BinaryPrimitives.ReadUInt16LittleEndian(Take(2));

    public uint U32() => BinaryPrimitives.ReadUInt32LittleEndian(Take(4));

    public long I64() => BinaryPrimitives.ReadInt64LittleEndian(Take(8));

    public ReadOnlySpan<byte> Bytes(int length) => Take(length);

    public string ShortString() => System.Text.Encoding.UTF8.GetString(Take(U16()));

    public readonly ReadOnlySpan<byte> Rest => _source[Position..];

    private ReadOnlySpan<byte> Take(int length)
    {
        if (length < 0 || length > Remaining)
        {
            throw new InvalidDataException($"Record ends {length - Remaining} bytes early at offset {Position}.");
        }

        var span = _source.Slice(Position, length);
        Position += length;
        return span;
    }
}
