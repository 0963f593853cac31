namespace Holdfast.Storage.Devices;

/// <summary>A file opened through an <see cref="IStorageDevice"/>. Positional I/O only: there is no cursor to share.</summary>
public interface IStorageFile : IDisposable
{
    long Length { get; }

    void Write(long offset, ReadOnlySpan<byte> data);

    /// <summary>Writes several buffers back to back starting at <paramref name="offset"/> (one pwritev where the platform has it).</summary>
    void Write(long offset, IReadOnlyList<ReadOnlyMemory<byte>> buffers);

    /// <summary>Reads up to <c>buffer.Length</c> bytes; fewer only at the end of the file.</summary>
    int Read(long offset, Span<byte> buffer);

    /// <summary>Forces written data to stable storage (fsync). After this throws, the file's unsynced data must be presumed lost.</summary>
    void Flush();

    void SetLength(long length);

    /// <summary>
    /// Advice that a flushed byte range will not be read soon: the platform may free the memory that caches it
    /// (<c>posix_fadvise(DONTNEED)</c>). Never changes what a later read returns; a range with unflushed writes
    /// keeps them. Best effort: no error is reported, and a closed file ignores it.
    /// </summary>
    void DropCached(long offset, long length);

    /// <summary>
    /// Advice that a written byte range will be flushed soon: the platform may start writing it to the disk now
    /// (<c>sync_file_range(SYNC_FILE_RANGE_WRITE)</c>), so that the flush has less left to wait for. Makes nothing
    /// durable and never changes what a read returns or what a later <see cref="Flush"/> reports. Best effort: no
    /// error is reported, and a closed file ignores it.
    /// </summary>
    void StartWriteBack(long offset, long length);
}
