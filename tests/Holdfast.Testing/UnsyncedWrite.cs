namespace Holdfast.Testing;

/// <summary>
/// One change made to a file since its last fsync, as the page cache holds it: a write of
/// <see cref="Data"/> at <see cref="Offset"/>, or a SetLength to <see cref="NewLength"/>.
/// </summary>
public sealed class UnsyncedWrite
{
    private UnsyncedWrite(long offset, ReadOnlyMemory<byte> data, long? newLength)
    {
        Offset = offset;
        Data = data;
        NewLength = newLength;
    }

    public long Offset { get; }

    public ReadOnlyMemory<byte> Data { get; }

    /// <summary>The length a SetLength set; null for a write.</summary>
    public long? NewLength { get; }

    /// <summary>Bytes written (0 for a SetLength).</summary>
    public int Length => Data.Length;

    public static UnsyncedWrite Write(long offset, ReadOnlyMemory<byte> data) => new(offset, data, null);

    public static UnsyncedWrite SetLength(long length) => new(0, ReadOnlyMemory<byte>.Empty, length);

    public override string ToString() => NewLength is { } length ? $"set length {length}" : $"write {Length} bytes at {Offset}";
}
