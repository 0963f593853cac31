using System.Diagnostics;
using Holdfast.Storage.Devices;

namespace Holdfast.Storage.Log;

/// <summary>
/// The segmented, append-only log, its single writer thread and its syncer thread.
/// <para>
/// Appending is two calls under the store's lock: <see cref="BeginRecord"/> reserves space in the
/// pending buffer and returns the payload's span to fill in place, <see cref="CommitRecord"/> seals it
/// and returns a task. The writer thread swaps the pending batch out, writes it with one vectored
/// write per segment and hands each record to the <see cref="ILogApplier"/>. When any record in the
/// batch asked for <see cref="FlushPolicy.Sync"/>, the log is fsynced: one fsync covers every append
/// written by then, so throughput grows with the number of writers (group commit).
/// </para>
/// <para>
/// Who fsyncs. When nothing more is pending the writer fsyncs itself, which costs no thread hop (a
/// lone publisher waiting for each confirm). When more appends are already waiting it hands the fsync
/// to the syncer thread and writes the next batch while the disk works, so writing batch n+1 overlaps
/// the fsync of batch n. One fsync of the log at a time, ever: whoever fsyncs holds the sync token
/// (<c>_syncing</c>). Two concurrent fsyncs would be unsafe: when one fails and the kernel drops the
/// dirty pages, the other may still return success over them. The writer takes the token itself
/// before a roll, a checkpoint or a cut-back.
/// </para>
/// <para>
/// The page cache. The writer tells <see cref="LogPageCache"/> how far it has written and every fsync how far it
/// synced; on its own thread that starts the kernel's writeback behind the writer and drops from the cache what
/// lies far behind the last fsync.
/// </para>
/// <para>
/// Failures stick. A failed fsync (or any I/O error other than a full disk) fails the batch, everything
/// pending and every later append; the writer stops and never fsyncs that file again. A full disk fails
/// the batch and everything pending with <see cref="DiskFullException"/>, cuts the segment back to the
/// last good record and keeps going, so appends succeed once space is freed.
/// </para>
/// </summary>
internal sealed class CommitLog : IDisposable
{
    private readonly object _gate;
    private readonly IStorageDevice _device;
    private readonly StoreOptions _options;
    private readonly SegmentCatalog _segments;
    private readonly SpareSegments _spares;
    private readonly ILogApplier _applier;
    private readonly Thread _writer;
    private readonly Thread _syncer;

    // The syncer's wake-up: set, then pulsed under its own monitor, so the writer's monitor (_gate)
    // only ever has the writer waiting on it and an appender's Pulse cannot wake the wrong thread.
    private readonly object _syncSignal = new();
    private bool _syncWanted;
    private bool _syncerStopping;

    // Sync waiters whose records are written, waiting for the next fsync (under _gate). An fsync takes
    // them out as an array of its own: a list handed back and forth would still be read by one token
    // holder while the next one fills it.
    private readonly List<AppendWaiter> _syncQueue = [];

    // The sync token (under _gate): true while one thread fsyncs the log.
    private bool _syncing;

    // The checkpoint thread's hand-off (under _checkpointSignal), and its own monitor for the same
    // reason as the syncer's. _checkpointBusy (under _gate) is true from a checkpoint's snapshot until
    // it is written or given up: one at a time, so the next snapshot knows what the last one wrote.
    private readonly Thread _checkpointer;
    private readonly object _checkpointSignal = new();
    private (IPreparedCheckpoint Prepared, List<TaskCompletionSource> Requests)? _checkpointJob;
    private bool _checkpointerStopping;
    private bool _checkpointBusy;
    private readonly List<TaskCompletionSource> _checkpointRequests = [];

    // How many of _checkpointRequests were made before the batch being processed was taken: only
    // those may be answered by its checkpoint, since records appended before a later request may
    // still be in the next batch.
    private int _checkpointRequestsInBatch;

    // Waiters whose records are written and need no fsync, gathered per batch (writer thread only).
    private readonly List<AppendWaiter> _writtenWaiters = [];

    // The buffers of one vectored write, reused batch after batch (writer thread only): a device
    // must not keep the list, just as it must not keep the pooled buffers in it.
    private readonly List<ReadOnlyMemory<byte>> _writeGroup = [];

    // Whether the segment being written was a spare: old records lie past the data (writer thread only).
    private bool _writeSegmentReused;
    private PendingBatch _active = new();
    private PendingBatch _spare = new();
    private long _reservedEnd;
    private long _currentSegmentBase;
    private PendingChunk? _openChunk;
    private int _openPayloadLength;
    private long _writtenEnd;
    private long _syncedEnd;
    private long _lastCheckpoint;
    private long _unsyncedBytes;
    private long _syncDeadline = long.MaxValue;
    private long _intervalBytes = long.MaxValue;
    private bool _writerIdle;
    private bool _stopping;
    private Exception? _failure;
    private Segment? _writeSegment;
    private long _fsyncCount;

    // Bytes an fsync carries (written since the last one) up to which the writer prepares blocks.
    private const long PrepareWhileFsyncsCarryAtMost = 32 * 1024;

    private static readonly byte[] Zeros = new byte[256 * 1024];
    private static readonly long PageBytes = Environment.SystemPageSize;

    // Writer thread only: offset in the write segment's file up to which its blocks have been written
    // (records or zeros), so that an fsync of records below it persists data and no block map change.
    private long _preparedEnd;
    private long _overlappedFsyncCount;
    private int _activeSyncWaiters;
    private readonly long _unobservedLingerTicks;
    private int _lastSyncCohort;
    private long _lastSyncTicks;

    private readonly LogPageCache _pageCache;

    public CommitLog(IStorageDevice device, StoreOptions options, SegmentCatalog segments, SpareSegments spares, ILogApplier applier, object gate, long endPosition, long lastCheckpoint)
    {
        _spares = spares;
        _device = device;
        _options = options;
        _segments = segments;
        _applier = applier;
        _gate = gate;
        _reservedEnd = _writtenEnd = _syncedEnd = endPosition;
        _lastCheckpoint = lastCheckpoint;
        _writeSegment = segments.Last;
        _currentSegmentBase = _writeSegment?.BasePosition ?? endPosition;
        _preparedEnd = _writeSegment?.File.Length ?? 0;
        _unobservedLingerTicks = (long)Math.Clamp(options.UnobservedLinger.TotalSeconds * Stopwatch.Frequency, 0, long.MaxValue / 4);
        _writer = new Thread(RunWriter) { IsBackground = true, Name = "holdfast-log-writer" };
        _syncer = new Thread(RunSyncer) { IsBackground = true, Name = "holdfast-log-syncer" };
        _checkpointer = new Thread(RunCheckpointer) { IsBackground = true, Name = "holdfast-checkpointer" };
        _pageCache = new LogPageCache(options, segments, gate, endPosition);
        _syncer.Start();
        _checkpointer.Start();
        _writer.Start();
    }

    /// <summary>Set once a non-recoverable write or fsync error has happened; appends fail with it from then on.</summary>
    public Exception? Failure => Volatile.Read(ref _failure);

    /// <summary>Position just past the last record appended, written or not. Read under the store's lock.</summary>
    public long ReservedEnd => _reservedEnd;

    /// <summary>Everything before this position has been written to the operating system and applied.</summary>
    public long WrittenEnd => Volatile.Read(ref _writtenEnd);

    /// <summary>Everything before this position is on stable storage.</summary>
    public long SyncedEnd => Volatile.Read(ref _syncedEnd);

    public long FsyncCount => Interlocked.Read(ref _fsyncCount);

    public long OverlappedFsyncCount => Interlocked.Read(ref _overlappedFsyncCount);

    public long LastCheckpoint => Volatile.Read(ref _lastCheckpoint);

    /// <summary>Reserves room for a record and returns its payload area. Caller holds the lock and must call <see cref="CommitRecord"/> next.</summary>
    public Span<byte> BeginRecord(int payloadLength, out long position)
    {
        if (_failure is not null)
        {
            throw new StorageFailedException("The store has failed and accepts no more appends: " + _failure.Message, _failure);
        }

        if (_stopping)
        {
            throw new ObjectDisposedException(nameof(CommitLog), "The store is closing.");
        }

        var size = RecordFormat.SizeOnDisk(payloadLength);
        if (_reservedEnd > _currentSegmentBase && _reservedEnd - _currentSegmentBase + size > _options.SegmentSizeBytes)
        {
            _currentSegmentBase = _reservedEnd;
        }

        var chunks = _active.Chunks;
        var chunk = chunks.Count == 0 ? null : chunks[^1];
        if (chunk is null || chunk.SegmentBase != _currentSegmentBase || chunk.Free < size)
        {
            chunk = _active.AddChunk(_currentSegmentBase, _reservedEnd, size);
        }

        _openChunk = chunk;
        _openPayloadLength = payloadLength;
        position = _reservedEnd;
        return chunk.Buffer.AsSpan(chunk.Length + RecordFormat.HeaderSize, payloadLength);
    }

    public ValueTask CommitRecord(RecordType type, RecordFlags flags, FlushPolicy policy, bool completeOnLogThread = false)
    {
        SealOpenRecord(type, flags);
        var waiter = AppendWaiter.Rent(_reservedEnd, policy.Kind == FlushKind.Sync, completeOnLogThread);
        _active.Waiters.Add(waiter);
        _active.Observed = true;
        switch (policy.Kind)
        {
            case FlushKind.Sync:
                _active.NeedsSync = true;
                _activeSyncWaiters++;
                break;
            case FlushKind.Interval:
                var deadline = _options.TimeProvider.GetTimestamp() + (long)(policy.Period.TotalSeconds * _options.TimeProvider.TimestampFrequency);
                _active.IntervalDeadlineTimestamp = Math.Min(_active.IntervalDeadlineTimestamp, deadline);
                _active.IntervalBytes = Math.Min(_active.IntervalBytes, policy.Bytes);
                break;
        }

        if (_writerIdle)
        {
            Monitor.Pulse(_gate);
        }

        return waiter.Task;
    }

    /// <summary>
    /// Seals a record that nobody waits for: it goes out with the next batch and is applied like any
    /// other, with no waiter to complete (and so no continuation to run) once it is written. For
    /// records whose loss in a crash costs nothing but a redelivery (a consumer's acks).
    /// <para>
    /// A batch of such records alone lingers for <see cref="StoreOptions.UnobservedLinger"/> (or until it holds
    /// <see cref="StoreOptions.UnobservedLingerBytes"/>) before the writer takes it, so that a consumer acking one
    /// message at a time costs one write and one writer wake-up per linger, not one per ack. Any
    /// observed record ends the linger at once and carries these with it.
    /// </para>
    /// </summary>
    public void CommitUnobserved(RecordType type, RecordFlags flags)
    {
        var first = _active.LingerUntil == long.MaxValue;
        SealOpenRecord(type, flags);
        if (first)
        {
            _active.LingerUntil = Stopwatch.GetTimestamp() + _unobservedLingerTicks;
        }

        // The first record wakes the writer so that it waits with the linger's timeout; later ones
        // only when the batch has grown past the cap.
        if (_writerIdle && (first || _reservedEnd - _active.StartPosition >= _options.UnobservedLingerBytes))
        {
            Monitor.Pulse(_gate);
        }
    }

    private void SealOpenRecord(RecordType type, RecordFlags flags)
    {
        var chunk = _openChunk ?? throw new InvalidOperationException("No record was begun.");
        _openChunk = null;
        var size = RecordFormat.SizeOnDisk(_openPayloadLength);
        RecordFormat.Seal(chunk.Buffer.AsSpan(chunk.Length, size), type, flags, _openPayloadLength, _reservedEnd);
        chunk.Length += size;
        _reservedEnd += size;
    }

    /// <summary>Asks the writer for a checkpoint after the records appended so far. Caller must not hold the lock.</summary>
    public Task RequestCheckpoint()
    {
        var request = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_gate)
        {
            if (_failure is not null)
            {
                return Task.FromException(new StorageFailedException("The store has failed: " + _failure.Message, _failure));
            }

            if (_stopping)
            {
                return Task.FromException(new ObjectDisposedException(nameof(CommitLog), "The store is closing."));
            }

            _checkpointRequests.Add(request);
            Monitor.Pulse(_gate);
        }

        return request.Task;
    }

    /// <summary>Reads the bytes of a record that has been written. Returns false when its segment is gone.</summary>
    public bool TryRead(long position, Span<byte> destination)
    {
        Segment? segment;
        lock (_gate)
        {
            segment = _segments.Find(position);
        }

        if (segment is null || segment.Deleted)
        {
            return false;
        }

        try
        {
            return segment.File.Read(position - segment.BasePosition, destination) == destination.Length;
        }
        catch (ObjectDisposedException)
        {
            return false; // Deleted by reclamation between the lookup and the read; the caller re-resolves.
        }
    }

    /// <summary>Writes out what is pending, fsyncs, and stops the writer.</summary>
    public void Dispose()
    {
        lock (_gate)
        {
            _stopping = true;
            Monitor.Pulse(_gate);
        }

        _writer.Join();

        // After the writer: its last batch may have handed over the final checkpoint, which this
        // thread writes before it stops.
        lock (_checkpointSignal)
        {
            _checkpointerStopping = true;
            Monitor.Pulse(_checkpointSignal);
        }

        _checkpointer.Join();
        lock (_syncSignal)
        {
            _syncerStopping = true;
            Monitor.Pulse(_syncSignal);
        }

        _syncer.Join();
        _pageCache.Dispose();
    }

    private void RunWriter()
    {
        while (true)
        {
            GatherSyncCohort();
            PendingBatch batch;
            bool checkpoint;
            bool stopping;
            lock (_gate)
            {
                while (_failure is null && !ActiveDueLocked() && !CheckpointRequestDueLocked() && !_stopping && !IntervalSyncOwed())
                {
                    _writerIdle = true;
                    Monitor.Wait(_gate, WriterWaitTimeoutLocked());
                    _writerIdle = false;
                }

                if (_failure is not null)
                {
                    FailPendingLocked(_active, _failure);
                    return;
                }

                batch = _active;
                _active = _spare;
                _activeSyncWaiters = 0;
                checkpoint = CheckpointRequestDueLocked();
                stopping = _stopping;

                // On close the last checkpoint waits for a busy one and answers every request.
                _checkpointRequestsInBatch = checkpoint || stopping ? _checkpointRequests.Count : 0;
            }

            try
            {
                ProcessBatch(batch, checkpoint || stopping);
            }
            finally
            {
                batch.Clear();
                lock (_gate)
                {
                    _spare = batch;
                }
            }

            if (stopping && SyncWaitersQueued())
            {
                // Written, and still waiting for the syncer: a last batch that met a full disk skipped
                // its own fsync, and these are owed one, not a failure.
                try
                {
                    SyncOnWriter();
                }
                catch (Exception ex)
                {
                    Fail([], ex);
                }
            }

            lock (_gate)
            {
                if (_failure is not null || (stopping && _active.IsEmpty))
                {
                    var error = _failure ?? new ObjectDisposedException(nameof(CommitLog));
                    FailPendingLocked(_active, error);
                    FailWaiters(_syncQueue, error);
                    _syncQueue.Clear();
                    foreach (var request in _checkpointRequests)
                    {
                        request.TrySetException(error);
                    }

                    _checkpointRequests.Clear();
                    return;
                }
            }
        }
    }

    private void ProcessBatch(PendingBatch batch, bool checkpoint)
    {
        var written = false;
        try
        {
            var syncWanted = false;
            if (!batch.IsEmpty)
            {
                try
                {
                    WriteChunks(batch);
                }
                catch (Exception ex) when (DiskFull.IsDiskFull(ex))
                {
                    RecoverFromFullDisk(batch, ex);
                    return;
                }

                lock (_gate)
                {
                    ApplyLocked(batch);
                    // The syncer's fsync may have failed while this batch was being written: nothing
                    // written after a failed fsync may report success, whatever its policy.
                    ThrowIfFailedLocked();

                    foreach (var waiter in batch.Waiters)
                    {
                        if (waiter.NeedsSync)
                        {
                            _syncQueue.Add(waiter);
                            syncWanted = true;
                        }
                        else
                        {
                            _writtenWaiters.Add(waiter);
                        }
                    }
                }

                AppendWaiter.CompleteAll(_writtenWaiters);
                _writtenWaiters.Clear();

                _unsyncedBytes += batch.EndPosition - batch.StartPosition;
                _pageCache.Written(batch.EndPosition);
                _syncDeadline = Math.Min(_syncDeadline, batch.IntervalDeadlineTimestamp);
                _intervalBytes = Math.Min(_intervalBytes, batch.IntervalBytes);
            }

            written = true;
            var autoCheckpoint = !Volatile.Read(ref _checkpointBusy) && WrittenEnd - LastCheckpoint >= _options.CheckpointEveryBytes;
            if (checkpoint || autoCheckpoint || IntervalSyncOwed() || (_stopping && _unsyncedBytes > 0))
            {
                SyncOnWriter();
            }
            else if (syncWanted)
            {
                SyncOrHandOff();
            }

            if (checkpoint || autoCheckpoint)
            {
                StartCheckpoint();
            }
        }
        catch (Exception ex)
        {
            Fail(written ? [] : batch.Waiters, ex);
        }
    }

    private void WriteChunks(PendingBatch batch)
    {
        var group = _writeGroup;
        var i = 0;
        while (i < batch.Chunks.Count)
        {
            var first = batch.Chunks[i];
            group.Clear();
            var end = first.StartPosition;
            while (i < batch.Chunks.Count && batch.Chunks[i].SegmentBase == first.SegmentBase)
            {
                group.Add(batch.Chunks[i].Written);
                end = batch.Chunks[i].EndPosition;
                i++;
            }

            var segment = SegmentFor(first.SegmentBase);
            // A file written past the page cache ends every write on a block of its own accord.
            if (_writeSegmentReused && segment.File is not DirectWriteFile)
            {
                PadToPage(group, end - segment.BasePosition);
            }

            segment.File.Write(first.StartPosition - segment.BasePosition, group);
            lock (_gate)
            {
                segment.EndPosition = end;
            }
        }

        group.Clear();
    }

    /// <summary>
    /// In a reused segment, ends a write at a page boundary, with zeros past the data (up to the segment's
    /// size). A write that ends inside a page the kernel has not cached makes it read that block from the disk
    /// first, on the writer's thread, to merge the old bytes after the data: one synchronous read per batch,
    /// queued behind the disk's writes and discards (docs/benchmarks.md, "Reused segments"). The next
    /// batch starts inside the page just written, which is cached. A fresh segment needs none of this: past
    /// its end of file the kernel fills with zeros without reading. Zeros after the data are what recovery
    /// expects there, and recovery still cuts the old records beyond them.
    /// </summary>
    private void PadToPage(List<ReadOnlyMemory<byte>> group, long dataEnd)
    {
        var pageEnd = PageCeiling(dataEnd);
        var padding = Math.Min(pageEnd, _options.SegmentSizeBytes) - dataEnd;
        if (padding > 0)
        {
            group.Add(Zeros.AsMemory(0, (int)padding));
        }
    }

    private static long PageCeiling(long offset) => (offset + PageBytes - 1) / PageBytes * PageBytes;

    private Segment SegmentFor(long basePosition)
    {
        if (_writeSegment is not null && _writeSegment.BasePosition == basePosition)
        {
            return _writeSegment;
        }

        // A roll: the old segment is made durable before any byte goes to the new one, so only the
        // last segment can ever have a torn tail.
        if (_writeSegment is not null)
        {
            SyncOnWriter();
        }

        var file = OpenNewSegmentFile(basePosition, out var reused);
        var segment = new Segment(basePosition, file) { Recyclable = true };
        try
        {
            _device.SyncDirectory(Segment.Directory);
        }
        catch
        {
            file.Dispose();
            throw;
        }

        lock (_gate)
        {
            _segments.Add(segment);

            // Under the lock: the token holder reads which file to fsync.
            _writeSegment = segment;
        }

        _writeSegmentReused = reused;

        _preparedEnd = file.Length;
        return segment;
    }

    /// <summary>A spare file when there is one (allocated and written already), else a new preallocated file.</summary>
    private IStorageFile OpenNewSegmentFile(long basePosition, out bool reused)
    {
        var path = Segment.PathFor(basePosition);
        reused = _spares.TryTakeAs(basePosition);
        return reused
            ? _device.Open(path, create: false)
            : _device.Open(path, create: true, _options.SegmentSizeBytes);
    }

    private void ApplyLocked(PendingBatch batch)
    {
        foreach (var chunk in batch.Chunks)
        {
            var bytes = chunk.Buffer.AsSpan(0, chunk.Length);
            var offset = 0;
            while (offset < bytes.Length)
            {
                var record = ReadOwnRecord(bytes[offset..]);
                _applier.Apply(chunk.StartPosition + offset, record, bytes.Slice(offset + record.HeaderSize, record.PayloadLength));
                offset += record.SizeOnDisk;
            }
        }

        Volatile.Write(ref _writtenEnd, batch.EndPosition);
    }

    private static RecordView ReadOwnRecord(ReadOnlySpan<byte> bytes) =>
        new((RecordType)bytes[8], (RecordFlags)bytes[9], (int)System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(bytes[4..]), RecordFormat.HeaderSize);

    /// <summary>
    /// Group commit's gather. An fsync that releases n sync appends sees their publishers append again
    /// within microseconds; taking the next batch as soon as the first of them arrives splits them into
    /// two cohorts that alternate, halving the records each fsync carries. So after such an fsync the
    /// writer yields until n sync appends are pending again, for at most a quarter of that fsync's
    /// duration (and never more than 1 ms): a bounded fraction of what the fsync itself costs, and
    /// nothing at all for a lone publisher (n = 1) or without sync appends. When half the cohort is
    /// already pending (pipelining publishers), the batches are big enough that alternating them keeps
    /// the disk busy, and waiting would only leave it idle: no gather then.
    /// </summary>
    private void GatherSyncCohort()
    {
        var target = _lastSyncCohort;
        _lastSyncCohort = 0;
        if (target < 2 || Volatile.Read(ref _activeSyncWaiters) >= target / 2)
        {
            return;
        }

        var started = Stopwatch.GetTimestamp();
        var limit = Math.Min(_lastSyncTicks / 4, Stopwatch.Frequency / 1000);

        // Read without the lock: a stale count only ends or prolongs the bounded wait.
        while (Volatile.Read(ref _activeSyncWaiters) < target && Stopwatch.GetTimestamp() - started < limit)
        {
            Thread.Yield();
        }
    }

    /// <summary>
    /// After a batch with sync appends: leaves the fsync to the syncer and goes on writing when at
    /// least <see cref="StoreOptions.SyncHandOffBytes"/> are already pending (or the syncer is busy); otherwise fsyncs
    /// on the writer thread. A lone publisher then pays no thread hop, and publishers that each wait
    /// for their one append keep arriving into the batch the writer's fsync holds back, so the next
    /// fsync carries all of them: handing off a few late ones would give them an fsync of their own
    /// and split the publishers into cohorts that alternate, each fsync carrying fewer records.
    /// Writing a few KiB costs microseconds against an fsync's hundreds; overlapping only pays when
    /// there is much to write.
    /// </summary>
    private void SyncOrHandOff()
    {
        lock (_gate)
        {
            ThrowIfFailedLocked();
            var pending = _active.IsEmpty ? 0 : _reservedEnd - _active.StartPosition;
            if (_syncing || pending >= _options.SyncHandOffBytes)
            {
                ForgetOwedSync();
                WakeSyncer();
                return;
            }

            _syncing = true;
        }

        try
        {
            PrepareBlocksAhead();
        }
        catch
        {
            lock (_gate)
            {
                ReleaseSyncTokenLocked();
            }

            throw;
        }

        SyncHoldingTokenOnWriter();
    }

    /// <summary>
    /// Keeps the blocks just ahead of the log's end written, with zeros, before the writer's own
    /// fsyncs. A segment's space is reserved with fallocate, as unwritten extents: the first fsync of
    /// each block written there must also commit the file system's journal (the extent turns from
    /// unwritten to written, the file grows), which roughly doubles its cost on ext4 and xfs. Zeroing
    /// a chunk ahead takes that cost once per chunk instead of once per fsync. Only on this path, where
    /// little is pending and an fsync's latency is what publishers wait on: under heavy load the writes
    /// would double the bytes written for little gain, and a reused segment's blocks are written already.
    /// Zeros past the end of the data are what recovery already expects of preallocated space.
    /// </summary>
    private void PrepareBlocksAhead()
    {
        var segment = _writeSegment;
        var chunk = _options.PrepareAheadBytes;
        if (chunk <= 0 || segment is null)
        {
            return;
        }

        // Worth it only while fsyncs are small and frequent: a chunk's zeros cost about one extra
        // megabyte of writeback, repaid at some 80 us per later fsync within it. With 16 KiB per fsync
        // that is 64 fsyncs repaying one chunk; with 128 KiB per fsync (a publisher with a window of
        // hundreds), 8 fsyncs, each carrying a chunk's cost more often than it saves.
        if (WrittenEnd - SyncedEnd > PrepareWhileFsyncsCarryAtMost)
        {
            return;
        }

        var written = WrittenEnd - segment.BasePosition;
        if (_preparedEnd - written >= chunk / 4)
        {
            return;
        }

        // From the next page on: the data's own write has written the page it ends in (a direct write rewrites
        // that page with the next batch, from the copy it keeps, which zeros written over it would make stale).
        var start = Math.Max(_preparedEnd, PageCeiling(written));
        var end = Math.Min(_options.SegmentSizeBytes, start + chunk);
        try
        {
            for (var offset = start; offset < end; offset += Zeros.Length)
            {
                segment.File.Write(offset, Zeros.AsSpan(0, (int)Math.Min(Zeros.Length, end - offset)));
            }

            _preparedEnd = Math.Max(_preparedEnd, end);
        }
        catch (Exception ex) when (DiskFull.IsDiskFull(ex))
        {
            // The space was not reserved after all (a file system without fallocate): records will
            // meet the full disk themselves; zeros must not. No more preparing in this segment.
            _preparedEnd = long.MaxValue;
        }
    }

    /// <summary>Waits for the token and fsyncs on the writer thread: everything written so far, whatever the syncer was doing, is durable on return.</summary>
    private void SyncOnWriter()
    {
        lock (_gate)
        {
            WaitForSyncTokenLocked();
            ThrowIfFailedLocked();
            _syncing = true;
        }

        SyncHoldingTokenOnWriter();
    }

    private void SyncHoldingTokenOnWriter()
    {
        ForgetOwedSync();

        // Only the writer's own fsyncs set the cohort its gather waits for: with the syncer fsyncing,
        // batches are already overlapping and a gather would only idle the writer.
        _lastSyncCohort = RunSyncHoldingToken(bySyncer: false);
    }

    /// <summary>Waits (releasing the lock) until nobody fsyncs the log, or the store has failed.</summary>
    private void WaitForSyncTokenLocked()
    {
        while (_syncing && _failure is null)
        {
            Monitor.Wait(_gate);
        }
    }

    /// <summary>Gives the sync token back and wakes the writer, who may be waiting for it.</summary>
    private void ReleaseSyncTokenLocked()
    {
        _syncing = false;
        Monitor.PulseAll(_gate);
    }

    private bool SyncWaitersQueued()
    {
        lock (_gate)
        {
            return _syncQueue.Count > 0 && _failure is null;
        }
    }

    private void WakeSyncer()
    {
        lock (_syncSignal)
        {
            _syncWanted = true;
            Monitor.Pulse(_syncSignal);
        }
    }

    private void RunSyncer()
    {
        while (true)
        {
            lock (_syncSignal)
            {
                while (!_syncWanted && !_syncerStopping)
                {
                    Monitor.Wait(_syncSignal);
                }

                if (!_syncWanted)
                {
                    return;
                }

                _syncWanted = false;
            }

            lock (_gate)
            {
                // The writer holds the token: its fsync takes every waiter queued so far, and it wakes
                // the syncer again for any it queues after.
                if (_syncing || _failure is not null || _syncQueue.Count == 0)
                {
                    continue;
                }

                _syncing = true;
            }

            try
            {
                RunSyncHoldingToken(bySyncer: true);
            }
#pragma warning disable CA1031 // The failure is the store's now (set and reported by RunSyncHoldingToken); the syncer just stops fsyncing.
            catch (StorageFailedException)
#pragma warning restore CA1031
            {
            }
        }
    }

    /// <summary>
    /// One fsync of the log by the token's holder, which gives the token back. Releases every sync
    /// waiter queued when it began; fails them, and the store, if the fsync fails or the store failed
    /// meanwhile: after a failure nothing reports success.
    /// </summary>
    private int RunSyncHoldingToken(bool bySyncer)
    {
        long target;
        IStorageFile? file;
        AppendWaiter[] taken;
        lock (_gate)
        {
            target = _writtenEnd;
            file = _writeSegment?.File;
            taken = _syncQueue.Count == 0 ? [] : [.. _syncQueue];
            _syncQueue.Clear();
        }

        var syncStarted = Stopwatch.GetTimestamp();
        StorageFailedException? error = null;
        try
        {
            file?.Flush();
        }
        catch (Exception ex)
        {
            // Never retried: after a failed fsync the kernel may have dropped the dirty pages and a
            // second fsync would succeed over data that is gone.
            error = new StorageFailedException($"fsync of the commit log failed ({ex.Message}); the store accepts no more appends.", ex);
        }

        bool succeeded;
        lock (_gate)
        {
            succeeded = error is null && _failure is null;
            if (succeeded)
            {
                Interlocked.Increment(ref _fsyncCount);
                if (bySyncer)
                {
                    Interlocked.Increment(ref _overlappedFsyncCount);
                }

                _lastSyncTicks = Stopwatch.GetTimestamp() - syncStarted;
                Volatile.Write(ref _syncedEnd, Math.Max(_syncedEnd, target));
            }
            else
            {
                SetFailureLocked(error ?? _failure!);
                FailWaiters(taken, _failure!);
            }

            ReleaseSyncTokenLocked();
        }

        if (!succeeded)
        {
            throw error ?? _failure as StorageFailedException ?? new StorageFailedException("The store has failed: " + _failure!.Message, _failure);
        }

        AppendWaiter.CompleteAll(taken);
        _pageCache.Synced(target);
        return taken.Length;
    }

    /// <summary>Writer thread only: an fsync covering everything written so far is done or on its way, so no interval sync is owed.</summary>
    private void ForgetOwedSync()
    {
        _unsyncedBytes = 0;
        _syncDeadline = long.MaxValue;
        _intervalBytes = long.MaxValue;
    }

    private void ThrowIfFailedLocked()
    {
        if (_failure is not null)
        {
            throw _failure as StorageFailedException ?? new StorageFailedException("The store has failed: " + _failure.Message, _failure);
        }
    }

    /// <summary>
    /// A requested checkpoint is started once the one being written stands: were the writer to wait
    /// for it, every append would wait through its fsyncs and deletions. The later snapshot answers
    /// the request just as well.
    /// </summary>
    private bool CheckpointRequestDueLocked() => _checkpointRequests.Count > 0 && !Volatile.Read(ref _checkpointBusy);

    /// <summary>
    /// Writer thread, with everything written so far synced: snapshots the state and hands the
    /// checkpoint's I/O to the checkpoint thread, so appends go on while index files and the
    /// checkpoint file are written and fsynced. Waits first for a checkpoint still being written, which
    /// happens only on close: neither a requested nor an automatic one is due while another is busy.
    /// </summary>
    private void StartCheckpoint()
    {
        List<TaskCompletionSource> requests;
        lock (_gate)
        {
            while (_checkpointBusy && _failure is null)
            {
                Monitor.Wait(_gate);
            }

            var answered = Math.Min(_checkpointRequestsInBatch, _checkpointRequests.Count);
            requests = _checkpointRequests.GetRange(0, answered);
            _checkpointRequests.RemoveRange(0, answered);
            _checkpointRequestsInBatch = 0;
            if (_failure is not null)
            {
                FailRequests(requests, _failure);
                ThrowIfFailedLocked();
            }

            Volatile.Write(ref _checkpointBusy, true);
        }

        IPreparedCheckpoint prepared;
        try
        {
            prepared = _applier.PrepareCheckpoint(WrittenEnd);
        }
        catch (Exception ex)
        {
            FailRequests(requests, ex);
            FinishCheckpoint();
            throw;
        }

        lock (_checkpointSignal)
        {
            _checkpointJob = (prepared, requests);
            Monitor.Pulse(_checkpointSignal);
        }
    }

    private void RunCheckpointer()
    {
        while (true)
        {
            (IPreparedCheckpoint Prepared, List<TaskCompletionSource> Requests) job;
            lock (_checkpointSignal)
            {
                while (_checkpointJob is null && !_checkpointerStopping)
                {
                    Monitor.Wait(_checkpointSignal);
                }

                // On close, a job handed over before the stop is still written.
                if (_checkpointJob is not { } next)
                {
                    return;
                }

                job = next;
                _checkpointJob = null;
            }

            WriteCheckpoint(job.Prepared, job.Requests);
        }
    }

    private void WriteCheckpoint(IPreparedCheckpoint prepared, List<TaskCompletionSource> requests)
    {
        var failure = Failure;
        if (failure is not null)
        {
            // Its position was synced, but the store has failed since: it stops writing altogether.
            prepared.Abandon();
            FailRequests(requests, failure);
            FinishCheckpoint();
            return;
        }

        try
        {
            prepared.Write();
        }
        catch (Exception ex) when (DiskFull.IsDiskFull(ex))
        {
            // The log is intact and the previous checkpoint still stands; the next checkpoint, a
            // checkpoint interval later, redoes this one's work.
            Volatile.Write(ref _lastCheckpoint, prepared.Position);
            FinishCheckpoint();
            FailRequests(requests, new DiskFullException("The disk is full: the checkpoint was not written.", ex));
            return;
        }
        catch (Exception ex)
        {
            var error = new StorageFailedException($"A checkpoint could not be written ({ex.Message}); the store accepts no more appends. Reopen it to recover what reached the disk.", ex);
            SetFailure(error);
            FinishCheckpoint();
            FailRequests(requests, error);
            return;
        }

        // Outside the try: what follows a checkpoint that stands (automatic compaction) must not be
        // taken for a failure to write it.
        Volatile.Write(ref _lastCheckpoint, prepared.Position);
        FinishCheckpoint();
        foreach (var request in requests)
        {
            request.TrySetResult();
        }

        _applier.CheckpointWritten();
    }

    /// <summary>The checkpoint in hand is written or given up: the next may be prepared.</summary>
    private void FinishCheckpoint()
    {
        lock (_gate)
        {
            Volatile.Write(ref _checkpointBusy, false);
            Monitor.PulseAll(_gate);
        }
    }

    private static void FailRequests(List<TaskCompletionSource> requests, Exception error)
    {
        foreach (var request in requests)
        {
            request.TrySetException(error);
        }
    }

    private void RecoverFromFullDisk(PendingBatch batch, Exception cause)
    {
        var error = new DiskFullException("The disk is full: the record was not stored. Appends succeed again once space is freed.", cause);
        var start = batch.StartPosition;
        var startSegmentBase = batch.Chunks[0].SegmentBase;
        lock (_gate)
        {
            // Everything appended after the failed batch was positioned after it: it cannot be written either.
            FailWaiters(batch.Waiters, error);
            FailWaiters(_active.Waiters, error);
            _active.Clear();
            _reservedEnd = start;
            _currentSegmentBase = startSegmentBase;
        }

        // The cut-back truncates and fsyncs the log: it holds the sync token like any other fsync.
        lock (_gate)
        {
            WaitForSyncTokenLocked();
            if (_failure is not null)
            {
                return;
            }

            _syncing = true;
        }

        try
        {
            CutBackTo(start);
        }
        catch (Exception ex)
        {
            SetFailure(new StorageFailedException("The disk filled and the partly written tail could not be cut back.", ex));
        }
        finally
        {
            lock (_gate)
            {
                ReleaseSyncTokenLocked();
            }
        }

        // Appends written before the failed batch may still wait for their fsync.
        WakeSyncer();
    }

    private void CutBackTo(long position)
    {
        List<Segment> segments;
        lock (_gate)
        {
            segments = [.. _segments.All];
        }

        var deleted = false;
        Segment? holdingStart = null;
        foreach (var segment in segments)
        {
            if (segment.BasePosition >= position)
            {
                // Created for the failed batch: nothing confirmed lives here.
                segment.File.Dispose();
                _device.DeleteFile(Segment.PathFor(segment.BasePosition));
                deleted = true;
                lock (_gate)
                {
                    segment.Deleted = true;
                    _segments.Remove(segment);
                }
            }
            else
            {
                holdingStart = segment;
            }
        }

        // Only the segment the failed batch began in is cut: the ones before it are closed (a reused
        // one's file runs past its data, which is not a tail to cut), and may be being reclaimed.
        if (holdingStart is not null && holdingStart.File.Length > position - holdingStart.BasePosition)
        {
            holdingStart.File.SetLength(position - holdingStart.BasePosition);
            holdingStart.File.Flush();
            lock (_gate)
            {
                holdingStart.EndPosition = position;
            }
        }

        if (deleted)
        {
            _device.SyncDirectory(Segment.Directory);
        }

        lock (_gate)
        {
            _writeSegment = _segments.Last;
            _preparedEnd = _writeSegment?.File.Length ?? 0;
        }
    }

    private void Fail(IEnumerable<AppendWaiter> unwrittenWaiters, Exception cause)
    {
        var error = cause as StorageFailedException
            ?? new StorageFailedException($"A write or fsync failed ({cause.Message}); the store accepts no more appends. Reopen it to recover what reached the disk.", cause);
        lock (_gate)
        {
            FailWaiters(unwrittenWaiters, error);
            SetFailureLocked(error);
        }
    }

    private void SetFailure(Exception error)
    {
        lock (_gate)
        {
            SetFailureLocked(error);
        }
    }

    private void SetFailureLocked(Exception error)
    {
        _failure ??= error;
        FailPendingLocked(_active, _failure);
        FailWaiters(_syncQueue, _failure);
        _syncQueue.Clear();
        foreach (var request in _checkpointRequests)
        {
            request.TrySetException(_failure);
        }

        _checkpointRequests.Clear();
        Monitor.PulseAll(_gate);
    }

    private static void FailPendingLocked(PendingBatch batch, Exception error)
    {
        FailWaiters(batch.Waiters, error);
        batch.Clear();
    }

    private static void FailWaiters(IEnumerable<AppendWaiter> waiters, Exception error)
    {
        foreach (var waiter in waiters)
        {
            waiter.Fail(error);
        }
    }

    private bool IntervalSyncOwed() =>
        _unsyncedBytes > 0 && (_unsyncedBytes >= _intervalBytes || _options.TimeProvider.GetTimestamp() >= _syncDeadline);

    /// <summary>True when the pending batch should be written now: it holds a record somebody waits for, or its unobserved records have lingered long enough.</summary>
    private bool ActiveDueLocked() =>
        !_active.IsEmpty &&
        (_active.Observed || _reservedEnd - _active.StartPosition >= _options.UnobservedLingerBytes || Stopwatch.GetTimestamp() >= _active.LingerUntil);

    /// <summary>The idle writer's wait: until the interval fsync is owed or the lingering batch is due, whichever is first.</summary>
    private int WriterWaitTimeoutLocked()
    {
        var interval = WaitTimeout();
        if (_active.IsEmpty || _active.Observed)
        {
            return interval;
        }

        var remaining = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), _active.LingerUntil);
        // Re-evaluated at least once a minute, like any idle wait with a deadline.
        var linger = (int)Math.Clamp(Math.Ceiling(remaining.TotalMilliseconds), 1, 60_000);
        return interval == Timeout.Infinite ? linger : Math.Min(interval, linger);
    }

    private int WaitTimeout()
    {
        if (_syncDeadline == long.MaxValue || _unsyncedBytes == 0)
        {
            return Timeout.Infinite;
        }

        var remaining = _options.TimeProvider.GetElapsedTime(_options.TimeProvider.GetTimestamp(), _syncDeadline);
        // Polls at least every 50 ms so that a fake clock moved forward by a test is noticed.
        return (int)Math.Clamp(remaining.TotalMilliseconds, 1, 50);
    }
}
