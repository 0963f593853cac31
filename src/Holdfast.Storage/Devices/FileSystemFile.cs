using Microsoft.Win32.SafeHandles;

namespace Holdfast.Storage.Devices;

internal sealed class FileSystemFile(string path, SafeFileHandle handle) : IStorageFile
{
    public string Path { get; } = path;

    public long Length => RandomAccess.GetLength(handle);

    public void Write(long offset, ReadOnlySpan<byte> data) => RandomAccess.Write(handle, data, offset);

    public void Write(long offset, IReadOnlyList<ReadOnlyMemory<byte>> buffers)
    {
        // The usual batch is one buffer: a plain pwrite skips the gather overload's per-call handle array.
        if (buffers.Count == 1)
        {
            RandomAccess.Write(handle, buffers[0].Span, offset);
            return;
        }

        RandomAccess.Write(handle, buffers, offset);
    }

    public int Read(long offset, Span<byte> buffer) => ReadFully(handle, offset, buffer);

    /// <summary>Reads until <paramref name="buffer"/> is full or the file ends.</summary>
    internal static int ReadFully(SafeFileHandle handle, long offset, Span<byte> buffer)
    {
        var total = 0;
        while (total < buffer.Length)
        {
            var n = RandomAccess.Read(handle, buffer[total..], offset + total);
            if (n == 0)
            {
                break;
            }

            total += n;
        }

        return total;
    }

    public void Flush() => LinuxFileCalls.DataSync(handle);

    public void SetLength(long length) => RandomAccess.SetLength(handle, length);

    public void DropCached(long offset, long length) => LinuxFileCalls.DropCached(handle, offset, length);

    public void StartWriteBack(long offset, long length) => LinuxFileCalls.StartWriteBack(handle, offset, length);

    public void Dispose() => handle.Dispose();
}
