using Holdfast.Storage.Devices;

namespace Holdfast.Testing;

/// <summary>
/// An open file of a <see cref="FaultyDevice"/>. Like a POSIX descriptor it refers to the file's
/// contents, not its name: it keeps working after the name is deleted or renamed, though its
/// <see cref="Path"/> (which fsync faults and stalls match on) stays the name it was opened by. After a
/// simulated crash every call throws <see cref="IOException"/>, so a store from before the crash cannot
/// touch what survived.
/// </summary>
internal sealed class FaultyFile(FaultyDisk disk, FaultyInode inode, string path, long generation) : IStorageFile
{
    private volatile bool _disposed;

    public string Path => path;

    public bool IsDisposed => _disposed;

    public long Generation => generation;

    public long Length => disk.Length(this, inode);

    public void Write(long offset, ReadOnlySpan<byte> data) => disk.Write(this, inode, offset, data);

    public void Write(long offset, IReadOnlyList<ReadOnlyMemory<byte>> buffers)
    {
        ArgumentNullException.ThrowIfNull(buffers);

        // One vectored write is one change to the file: a crash may tear it anywhere.
        var joined = new byte[buffers.Sum(b => (long)b.Length)];
        var at = 0;
        foreach (var buffer in buffers)
        {
            buffer.Span.CopyTo(joined.AsSpan(at));
            at += buffer.Length;
        }

        disk.Write(this, inode, offset, joined);
    }

    public int Read(long offset, Span<byte> buffer) => disk.Read(this, inode, offset, buffer);

    public void Flush() => disk.Flush(this, inode);

    public void SetLength(long length) => disk.SetLength(this, inode, length);

    public void DropCached(long offset, long length) => disk.Advise(this, inode, offset, length, writeBack: false);

    public void StartWriteBack(long offset, long length) => disk.Advise(this, inode, offset, length, writeBack: true);

    public void Dispose() => _disposed = true;

    /// <summary>Called under the disk's lock before every operation.</summary>
    public void Check()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        disk.CheckGeneration(generation, path);
    }
}
