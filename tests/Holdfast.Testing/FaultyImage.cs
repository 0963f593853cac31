namespace Holdfast.Testing;

/// <summary>
/// The bytes of one file as one of its two images holds them (what the platter has, or what the page
/// cache shows). Bytes past <see cref="Length"/> are kept zero, so growing a file zero-fills it.
/// </summary>
internal sealed class FaultyImage
{
    private byte[] _bytes;

    public FaultyImage()
        : this([], 0)
    {
    }

    private FaultyImage(byte[] bytes, long length)
    {
        _bytes = bytes;
        Length = length;
    }

    public long Length { get; private set; }

    public FaultyImage Clone() => new(_bytes.AsSpan(0, (int)Length).ToArray(), Length);

    public void Write(long offset, ReadOnlySpan<byte> data)
    {
        if (offset + data.Length > Length)
        {
            SetLength(offset + data.Length);
        }

        data.CopyTo(_bytes.AsSpan((int)offset));
    }

    public void SetLength(long length)
    {
        if (length < 0 || length > Array.MaxLength)
        {
            throw new IOException($"A file of {length} bytes does not fit the in-memory device.");
        }

        if (length > _bytes.Length)
        {
            var bigger = new byte[Math.Max(length, Math.Min(Array.MaxLength, 2L * _bytes.Length))];
            _bytes.AsSpan(0, (int)Length).CopyTo(bigger);
            _bytes = bigger;
        }
        else if (length < Length)
        {
            _bytes.AsSpan((int)length, (int)(Length - length)).Clear();
        }

        Length = length;
    }

    public int Read(long offset, Span<byte> destination)
    {
        if (offset >= Length)
        {
            return 0;
        }

        var count = (int)Math.Min(destination.Length, Length - offset);
        _bytes.AsSpan((int)offset, count).CopyTo(destination);
        return count;
    }

    public void FlipBit(long offset, int bit)
    {
        if (offset < 0 || offset >= Length)
        {
            throw new ArgumentOutOfRangeException(nameof(offset), offset, $"The file holds {Length} bytes.");
        }

        _bytes[offset] ^= (byte)(1 << bit);
    }

    /// <summary>Applies an unsynced change, keeping only the first <paramref name="keepBytes"/> bytes of a write.</summary>
    public void Apply(UnsyncedWrite change, int keepBytes)
    {
        if (change.NewLength is { } length)
        {
            SetLength(length);
        }
        else if (keepBytes > 0)
        {
            Write(change.Offset, change.Data.Span[..keepBytes]);
        }
    }

    public void Apply(UnsyncedWrite change) => Apply(change, change.Length);
}
