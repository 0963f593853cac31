using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Holdfast.Storage.Devices;

/// <summary>
/// A log segment whose large writes bypass the page cache (<c>O_DIRECT</c>), while reads and small writes
/// still go through it (<see cref="StoreOptions.DirectWrites"/>).
/// <para>
/// Why: a buffered write copies every byte into the page cache, into pages the host of a virtual machine
/// may have to back first, and the fsync then writes them out; with direct writes the disk reads the bytes
/// from our own buffer and the fsync only flushes the device's cache. On the benchmark VM a writer that
/// fsyncs each 1 MiB got 1.5 GB/s direct against 0.4–0.6 GB/s buffered (docs/benchmarks.md). A small
/// write is the other way round: a direct one waits for the device and the fsync after it is a second
/// trip, where the fsync of a buffered one writes and flushes in one; below
/// <see cref="StoreOptions.DirectWriteMinimumBytes"/> a write stays buffered.
/// </para>
/// <para>
/// How: a direct write must start and end on a block and come from an aligned buffer, so each write is
/// copied into an aligned staging buffer, starting at the block that holds its first byte (the bytes of
/// that block before it are the tail of the previous write, kept here, or read back when this file did
/// not write them) and ending with zeros up to the next block. The zeros are what recovery expects past
/// the end of the data; the next write rewrites that block with the same old bytes and its own, as the
/// kernel's writeback of a partly written page would. Small writes are whole pages too, so the kernel never
/// reads a block to merge it. Reads are buffered: before and after a direct write the kernel writes back
/// and drops the cached pages of its range, so a read after a write returns the write, whichever way it went.
/// </para>
/// </summary>
internal sealed class DirectWriteFile : IStorageFile
{
    internal const int BlockBytes = 4096;
    private const int StagingBytes = 4 << 20;
    internal const int DefaultDirectWriteMinimumBytes = 128 * 1024;

    private readonly SafeFileHandle _buffered;
    private readonly SafeFileHandle _direct;
    private readonly int _directWriteMinimumBytes;

    // One staging buffer per writing thread (a store's log has one writer), allocated on its first write:
    // segments opened only to be read never need one. Pinned, so its aligned part never moves under the kernel.
    [ThreadStatic]
    private static byte[]? t_stagingArray;
    [ThreadStatic]
    private static int t_stagingStart;

    // The last block this file wrote that the data ends inside, up to where the data ends: the next write starts there.
    private readonly byte[] _tail = new byte[BlockBytes];
    private long _tailBlock = -1;
    private int _tailLength;

    // Writer state of one Write call: the block-aligned file offset of the staging buffer, and how much of it is filled.
    private long _stagingPosition;
    private int _filled;
    private long _writeStart;
    private bool _directRefused;
    private bool _disposed;

    private DirectWriteFile(string path, SafeFileHandle buffered, SafeFileHandle direct, int directWriteMinimumBytes)
    {
        Path = path;
        _directWriteMinimumBytes = directWriteMinimumBytes;
        _buffered = buffered;
        _direct = direct;
    }

    public string Path { get; }

    /// <summary>Opens a second, direct descriptor beside <paramref name="buffered"/>; null where the file system refuses <c>O_DIRECT</c> (tmpfs).</summary>
    /// <param name="directWriteMinimumBytes">Writes smaller than this (after rounding out to blocks) go through the page cache.</param>
    public static DirectWriteFile? TryOpen(string path, SafeFileHandle buffered, int directWriteMinimumBytes = DefaultDirectWriteMinimumBytes)
    {
        var direct = LinuxFileCalls.TryOpenDirectForWriting(path);
        return direct is null ? null : new DirectWriteFile(path, buffered, direct, directWriteMinimumBytes);
    }

    /// <summary>Writes that went past the page cache (for tests: a file system that takes the flag but not the writes falls back).</summary>
    internal long DirectWriteCount { get; private set; }

    /// <summary>Writes that had to read the start of their first block back from the file (for tests: the kept copy should spare the log's writes that).</summary>
    internal long HeadReadCount { get; private set; }

    public long Length => RandomAccess.GetLength(_buffered);

    private static Span<byte> Staging
    {
        get
        {
            if (t_stagingArray is null)
            {
                var array = GC.AllocateUninitializedArray<byte>(StagingBytes + BlockBytes, pinned: true);
                var address = Marshal.UnsafeAddrOfPinnedArrayElement(array, 0).ToInt64();
                t_stagingStart = (int)((BlockBytes - (address & (BlockBytes - 1))) & (BlockBytes - 1));
                t_stagingArray = array;
            }

            return t_stagingArray.AsSpan(t_stagingStart, StagingBytes);
        }
    }

    public void Write(long offset, ReadOnlySpan<byte> data)
    {
        Begin(offset);
        Add(data);
        End();
    }

    public void Write(long offset, IReadOnlyList<ReadOnlyMemory<byte>> buffers)
    {
        Begin(offset);
        foreach (var buffer in buffers)
        {
            Add(buffer.Span);
        }

        End();
    }

    private void Begin(long offset)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        _stagingPosition = offset & ~(long)(BlockBytes - 1);
        _writeStart = _stagingPosition;
        _filled = (int)(offset - _stagingPosition);
        var kept = _tailBlock == _stagingPosition && _tailLength >= _filled;

        // This write may cover the kept block (a write that fails half way too): End keeps a new one.
        if (_tailBlock >= _writeStart)
        {
            _tailBlock = -1;
        }

        if (_filled == 0)
        {
            return;
        }

        var head = Staging[.._filled];
        if (kept)
        {
            _tail.AsSpan(0, _filled).CopyTo(head);
        }
        else
        {
            // Not written through this file (the data recovery found, or a write that ended elsewhere): read it.
            var read = Read(_stagingPosition, head);
            head[read..].Clear();
            HeadReadCount++;
        }
    }

    private void Add(ReadOnlySpan<byte> source)
    {
        while (!source.IsEmpty)
        {
            var n = Math.Min(source.Length, StagingBytes - _filled);
            source[..n].CopyTo(Staging[_filled..]);
            _filled += n;
            source = source[n..];
            if (_filled == StagingBytes)
            {
                WriteStaging(StagingBytes, small: false);
                _stagingPosition += StagingBytes;
                _filled = 0;
            }
        }
    }

    private void End()
    {
        var start = _stagingPosition;
        if (_filled > 0)
        {
            var padded = (_filled + BlockBytes - 1) & ~(BlockBytes - 1);
            Staging[_filled..padded].Clear();
            WriteStaging(padded, small: _stagingPosition == _writeStart && padded < _directWriteMinimumBytes);

            var partial = _filled & (BlockBytes - 1);
            if (partial != 0)
            {
                var lastBlock = padded - BlockBytes;
                Staging.Slice(lastBlock, partial).CopyTo(_tail);
                _tailBlock = start + lastBlock;
                _tailLength = partial;
            }
        }
    }

    private void WriteStaging(int length, bool small)
    {
        var bytes = Staging[..length];
        if (small || _directRefused)
        {
            // Through the page cache, whole pages, so the kernel reads nothing to merge.
            RandomAccess.Write(_buffered, bytes, _stagingPosition);
            return;
        }

        try
        {
            RandomAccess.Write(_direct, bytes, _stagingPosition);
            DirectWriteCount++;
        }
        catch (IOException ex) when (ex.HResult == LinuxFileCalls.InvalidArgument)
        {
            // The file system opened the file for direct I/O but refuses this write (an alignment it wants
            // larger than a page): nothing was written; this file goes on through the page cache.
            _directRefused = true;
            RandomAccess.Write(_buffered, bytes, _stagingPosition);
        }
    }

    public int Read(long offset, Span<byte> buffer) => FileSystemFile.ReadFully(_buffered, offset, buffer);

    // On the descriptor the buffered writes went through: a writeback error is reported to the descriptors open
    // when it happened, and both are; a direct write's own errors came back from the write itself.
    public void Flush() => LinuxFileCalls.DataSync(_buffered);

    public void SetLength(long length)
    {
        RandomAccess.SetLength(_buffered, length);
        _tailBlock = -1;
    }

    public void DropCached(long offset, long length) => LinuxFileCalls.DropCached(_buffered, offset, length);

    // Small writes go through the page cache, and their pages are worth starting early like any others.
    public void StartWriteBack(long offset, long length) => LinuxFileCalls.StartWriteBack(_buffered, offset, length);

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        _direct.Dispose();
        _buffered.Dispose();
    }
}
