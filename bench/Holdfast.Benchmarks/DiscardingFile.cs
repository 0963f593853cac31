using Holdfast.Storage.Devices;

namespace Holdfast.Benchmarks;

/// <summary>A file of the <see cref="DiscardingDevice"/>: tracks its length, keeps no bytes, reads zeros.</summary>
internal sealed class DiscardingFile : IStorageFile
{
    private long _length;

    public long Length => Volatile.Read(ref _length);

    public void Write(long offset, ReadOnlySpan<byte> data) => Extend(offset + data.Length);

    public void Write(long offset, IReadOnlyList<ReadOnlyMemory<byte>> buffers)
    {
        ArgumentNullException.ThrowIfNull(buffers);
        var end = offset;
        for (var i = 0; i < buffers.Count; i++)
        {
            end += buffers[i].Length;
        }

        Extend(end);
    }

    public int Read(long offset, Span<byte> buffer)
    {
        var available = (int)Math.Clamp(Length - offset, 0, buffer.Length);
        buffer[..available].Clear();
        return available;
    }

    public void Flush()
    {
    }

    public void SetLength(long length) => Volatile.Write(ref _length, length);

    public void DropCached(long offset, long length)
    {
    }

    public void StartWriteBack(long offset, long length)
    {
    }

    public void Dispose()
    {
    }

    private void Extend(long end)
    {
        if (end > Length)
        {
            Volatile.Write(ref _length, end);
        }
    }
}
