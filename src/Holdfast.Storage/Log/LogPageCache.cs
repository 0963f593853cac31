using Holdfast.Storage.Devices;

namespace Holdfast.Storage.Log;

/// <summary>
/// The log's advice to the kernel about its page cache, given on a thread of its own so that no call of it
/// holds up a write, an fsync or a checkpoint: each can take milliseconds.
/// <para>
/// Write-behind. Bytes written but not yet fsynced are handed to the kernel's writeback every
/// <see cref="StoreOptions.WriteBehindBytes"/> (<see cref="IStorageFile.StartWriteBack"/>). The kernel would
/// otherwise start only when gigabytes are dirty or half a minute old, so under an async or interval policy
/// the next fsync (a checkpoint's, say) found hundreds of megabytes to write and the writer waited for all of
/// them; now the disk writes while the writer fills the cache, and the fsync waits for the last step only.
/// The range stops at a page boundary below the written end: the page the writer appends into next is left
/// alone, so a disk that needs stable pages during writeback never makes the writer wait for it.
/// </para>
/// <para>
/// Drop-behind. Bytes more than <see cref="StoreOptions.PageCacheLogBytes"/> behind the last fsync are dropped
/// from the cache (<see cref="IStorageFile.DropCached"/>), fsynced bytes only: the kernel frees clean pages and
/// keeps dirty ones, so advice ahead of an fsync would free nothing. The pages freed are the ones the next
/// writes are copied into; left alone, the cache takes a never-used page for every 4 KiB written until memory
/// is full, and on a virtual machine whose host backs guest memory lazily each first touch costs a host fault.
/// Readers of older records (a deep queue, a redelivery, compaction) read them from the disk again.
/// </para>
/// </summary>
internal sealed class LogPageCache : IDisposable
{
    // Drop advice is given in steps at least this long: one call frees many pages, and small fsyncs cost no call each.
    private const long DropStepBytes = 4L * 1024 * 1024;

    private const long PageBytes = 4096;

    private readonly SegmentCatalog _segments;
    private readonly object _gate;
    private readonly long? _writeBehindBytes;
    private readonly long? _keepBytes;
    private readonly Thread _thread;

    // The thread's wake-up and the targets it is given, under _signal.
    private readonly object _signal = new();
    private long _writeBackTo;
    private long _dropTo;
    private bool _stopping;

    // How far advice has been given (read by the callers to skip asking for less than a step).
    private long _writtenBackEnd;
    private long _droppedEnd;

    // The last fsync's end: write-behind skips what it already covers.
    private long _syncedEnd;

    /// <param name="gate">The store's lock, under which <paramref name="segments"/> is read.</param>
    public LogPageCache(StoreOptions options, SegmentCatalog segments, object gate, long endPosition)
    {
        _segments = segments;
        _gate = gate;
        _writeBehindBytes = options.WriteBehindBytes;
        _keepBytes = options.PageCacheLogBytes;
        _writeBackTo = _dropTo = _writtenBackEnd = _droppedEnd = _syncedEnd = endPosition;
        _thread = new Thread(Run) { IsBackground = true, Name = "holdfast-log-cache" };
        _thread.Start();
    }

    /// <summary>The log is written up to <paramref name="writtenEnd"/>. Writer thread; costs a comparison unless a step is due.</summary>
    public void Written(long writtenEnd)
    {
        if (_writeBehindBytes is not { } step || writtenEnd - Volatile.Read(ref _writtenBackEnd) < step)
        {
            return;
        }

        lock (_signal)
        {
            if (writtenEnd > _writeBackTo)
            {
                _writeBackTo = writtenEnd;
                Monitor.Pulse(_signal);
            }
        }
    }

    /// <summary>An fsync made the log durable up to <paramref name="syncedEnd"/>.</summary>
    public void Synced(long syncedEnd)
    {
        InterlockedMax(ref _syncedEnd, syncedEnd);
        if (_keepBytes is not { } keep)
        {
            return;
        }

        var to = syncedEnd - keep;
        if (to - Volatile.Read(ref _droppedEnd) < DropStepBytes)
        {
            return;
        }

        lock (_signal)
        {
            if (to > _dropTo)
            {
                _dropTo = to;
                Monitor.Pulse(_signal);
            }
        }
    }

    /// <summary>Stops the thread; advice still owed is not given. Call once nothing calls <see cref="Written"/> or <see cref="Synced"/> any more.</summary>
    public void Dispose()
    {
        lock (_signal)
        {
            _stopping = true;
            Monitor.Pulse(_signal);
        }

        _thread.Join();
    }

    private void Run()
    {
        while (true)
        {
            long writeBackTo;
            long dropTo;
            lock (_signal)
            {
                while (_writeBackTo <= _writtenBackEnd && _dropTo <= _droppedEnd && !_stopping)
                {
                    Monitor.Wait(_signal);
                }

                if (_stopping)
                {
                    return;
                }

                writeBackTo = _writeBackTo;
                dropTo = _dropTo;
            }

            if (writeBackTo > _writtenBackEnd)
            {
                var from = Math.Max(_writtenBackEnd, Volatile.Read(ref _syncedEnd));
                Volatile.Write(ref _writtenBackEnd, writeBackTo);
                Advise(from, writeBackTo, writeBack: true);
            }

            if (dropTo > _droppedEnd)
            {
                var from = _droppedEnd;
                Volatile.Write(ref _droppedEnd, dropTo);
                Advise(from, dropTo, writeBack: false);
            }
        }
    }

    /// <summary>Gives the advice for the log's bytes in [from, to), one call per segment they span.</summary>
    private void Advise(long from, long to, bool writeBack)
    {
        while (from < to)
        {
            IStorageFile file;
            long offset;
            long end;
            lock (_gate)
            {
                var segment = _segments.FirstEndingAfter(from);
                if (segment is null || segment.BasePosition >= to)
                {
                    return;
                }

                var start = Math.Max(from, segment.BasePosition);
                var stop = Math.Min(to, segment.EndPosition);
                (file, offset, end) = (segment.File, start - segment.BasePosition, stop - segment.BasePosition);
                from = stop;
            }

            // Outside the lock: a call on megabytes takes a while, and appenders and readers need the lock.
            if (writeBack)
            {
                end &= ~(PageBytes - 1);
                if (end > offset)
                {
                    file.StartWriteBack(offset, end - offset);
                }
            }
            else
            {
                file.DropCached(offset, end - offset);
            }
        }
    }

    private static void InterlockedMax(ref long target, long value)
    {
        var current = Volatile.Read(ref target);
        while (value > current)
        {
            var seen = Interlocked.CompareExchange(ref target, value, current);
            if (seen == current)
            {
                return;
            }

            current = seen;
        }
    }
}
