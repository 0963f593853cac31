using System.Buffers;
using Holdfast.Storage.Devices;
using Holdfast.Storage.Log;
using Holdfast.Storage.Queues;

namespace Holdfast.Storage.State;

/// <summary>
/// Takes checkpoints in two steps. <see cref="Prepare"/> snapshots the state under the lock, on the log
/// writer's thread between two batches, so the snapshot is exactly the state as of the log position
/// synced just before. The checkpoint thread then writes it (<see cref="Write"/>): the index entries
/// added or repointed since the last checkpoint, fsynced; the checkpoint file; then the deletions
/// decided at the previous checkpoint. Meanwhile the writer goes on appending: nothing the
/// checkpoint writes is read again until it stands, and at most one is prepared and unwritten at a
/// time. Deciding at one checkpoint and deleting at the next means both checkpoints kept on disk are
/// past every deleted file, so opening from either is sound.
/// </summary>
internal sealed class CheckpointWriter(IStorageDevice device, object gate, StoreState state, SpareSegments spares, SegmentReclaimer reclaimer)
{
    // A checkpoint's new entries for one queue (24 bytes each) come from the shared pool up to this
    // many (6 MiB); a bigger set, one 256 MiB checkpoint interval of small messages into one queue, is
    // allocated once instead, since the pool would keep such arrays alive between checkpoints.
    private const int PooledEntriesMax = 1 << 18;

    private readonly QueueIndexFiles _index = new(device);
    private Deletions _decided = new([], [], []);
    private long _segmentsDeleted;
    private long _deletionFailures;
    private long _checkpoints;

    public long Generation { get; set; }

    public long Checkpoints => Interlocked.Read(ref _checkpoints);

    public long SegmentsDeleted => Interlocked.Read(ref _segmentsDeleted);

    /// <summary>Files a deletion could not remove (they stay on disk, unreferenced, and cost only space).</summary>
    public long DeletionFailures => Interlocked.Read(ref _deletionFailures);

    /// <summary>
    /// Snapshots the state as of <paramref name="position"/> (everything before it applied and synced).
    /// A throw here leaves queues already snapshotted with their index marks raised; the log fails the
    /// store on it, so nothing is written against those marks.
    /// </summary>
    public IPreparedCheckpoint Prepare(long position)
    {
        lock (gate)
        {
            var queues = new List<QueueSnapshot>(state.QueuesById.Count);
            var writes = new List<QueueIndexWrite>(state.QueuesById.Count);
            var heads = new List<(uint, long)>();
            foreach (var queue in state.QueuesById.Values)
            {
                queues.Add(Snapshot(queue, out var write));
                writes.Add(write);
                heads.Add((queue.Id, queue.Entries.Head));
            }

            var checkpoint = new Checkpoint(
                Generation + 1,
                position,
                state.NextQueueId,
                queues,
                new Dictionary<string, long>(state.Offsets, StringComparer.Ordinal),
                new Dictionary<string, byte[]>(state.Metadata, StringComparer.Ordinal));

            // A segment already decided (its deletion runs at this checkpoint) is not decided twice.
            var deadSegments = state.Segments.All
                .Where(s => s != state.Segments.Last && !s.Deleted && s.LiveReferences == 0 && s.EndPosition <= position && !_decided.Segments.Contains(s))
                .ToList();
            return new PreparedCheckpoint(this, checkpoint, writes, _decided, new Deletions(deadSegments, heads, [.. state.DeletedQueues]));
        }
    }

    private void Write(PreparedCheckpoint prepared)
    {
        try
        {
            foreach (var write in prepared.Writes)
            {
                _index.Write(write.Queue.Id, write.Entries);
            }

            CheckpointFile.Write(device, prepared.Checkpoint);
        }
        catch
        {
            Abandon(prepared);
            throw;
        }

        Generation = prepared.Checkpoint.Generation;
        Interlocked.Increment(ref _checkpoints);
        lock (gate)
        {
            foreach (var write in prepared.Writes)
            {
                write.ReturnBuffer();
                ForgetRelocationsWritten(write);
            }

            // Only now that the checkpoint stands do its decisions count; a failed checkpoint decides nothing.
            state.DeletedQueues.RemoveAll(prepared.DecidedNow.Queues.Contains);
            _decided = prepared.DecidedNow;
        }

        try
        {
            Execute(prepared.ToExecute);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // The checkpoint stands; an undeleted file is unreferenced and costs only space.
            Interlocked.Increment(ref _deletionFailures);
        }
    }

    private void Abandon(PreparedCheckpoint prepared)
    {
        lock (gate)
        {
            foreach (var write in prepared.Writes)
            {
                write.ReturnBuffer();

                // Its entries were never made durable: the next checkpoint writes them again. Relocations
                // recorded meanwhile stay in Relocated and are written with them.
                write.Queue.IndexDurableNext = Math.Min(write.Queue.IndexDurableNext, write.PreviousDurableNext);
            }
        }
    }

    /// <summary>
    /// A relocation the checkpoint wrote is settled, unless the entry was moved again after the
    /// snapshot: then its newer position is still owed to the index.
    /// </summary>
    private static void ForgetRelocationsWritten(QueueIndexWrite write)
    {
        var queue = write.Queue;
        var window = queue.Entries;
        foreach (var (seq, position) in write.RelocatedSeen)
        {
            if (!window.Contains(seq) || !window[seq].IsLive || window[seq].Position == position)
            {
                queue.Relocated.Remove(seq);
            }
        }
    }

    private static QueueSnapshot Snapshot(StoredQueue queue, out QueueIndexWrite write)
    {
        var window = queue.Entries;
        var from = Math.Max(queue.IndexDurableNext, window.Head);
        var relocatedSeen = new List<(long Seq, long Position)>(queue.Relocated.Count);
        foreach (var seq in queue.Relocated)
        {
            relocatedSeen.Add((seq, window.Contains(seq) && window[seq].IsLive ? window[seq].Position : -1));
        }

        // Sorted by sequence number: the relocated entries below `from`, then every entry from there.
        var capacity = relocatedSeen.Count + (int)Math.Max(0, window.Next - from);
        var pooled = capacity <= PooledEntriesMax;
        var entries = pooled
            ? ArrayPool<(long, long, int)>.Shared.Rent(Math.Max(1, capacity))
            : GC.AllocateUninitializedArray<(long, long, int)>(capacity);
        var count = 0;
        foreach (var (seq, position) in relocatedSeen.Where(r => r.Seq < from && r.Position >= 0).OrderBy(r => r.Seq))
        {
            entries[count++] = (seq, position, window[seq].Length);
        }

        var ackedRanges = new List<(long, int)>();
        var counts = new List<(long, int)>();
        long rangeStart = -1;

        // Acked ranges and delivery counts are looked for only where some may be: a long backlog past
        // the last acked or redelivered entry is not walked under the lock, nor is a window that has none.
        var walkEnd = Math.Clamp(window.MarkedBelow, window.Head, window.Next);
        var lastMarked = window.Head - 1;
        for (var seq = window.Head; seq < walkEnd; seq++)
        {
            ref var entry = ref window[seq];
            if (!entry.IsLive)
            {
                lastMarked = seq;
                if (rangeStart < 0)
                {
                    rangeStart = seq;
                }

                continue;
            }

            if (rangeStart >= 0)
            {
                ackedRanges.Add((rangeStart, (int)(seq - rangeStart)));
                rangeStart = -1;
            }

            if (entry.DeliveryCount > 0)
            {
                lastMarked = seq;
                counts.Add((seq, entry.DeliveryCount));
            }

            if (seq >= from)
            {
                entries[count++] = (seq, entry.Position, entry.Length);
            }
        }

        if (walkEnd < window.Next && rangeStart >= 0)
        {
            // The entry at walkEnd is live: the run of acked entries ends there.
            ackedRanges.Add((rangeStart, (int)(walkEnd - rangeStart)));
            rangeStart = -1;
        }

        window.ClearMarkedFrom(lastMarked + 1);
        for (var seq = Math.Max(from, walkEnd); seq < window.Next; seq++)
        {
            ref var entry = ref window[seq];
            entries[count++] = (seq, entry.Position, entry.Length);
        }

        // Acked entries at the tail may have left the window (a restart keeps live entries only), but
        // their sequence numbers stay used: the checkpoint's next covers them and lists them as acked,
        // so they are neither handed out again nor read back from an index file that still holds them.
        var next = Math.Max(window.Next, queue.AppliedNext);
        if (next > window.Next && rangeStart < 0)
        {
            rangeStart = window.Next;
        }

        if (rangeStart >= 0)
        {
            ackedRanges.Add((rangeStart, (int)(next - rangeStart)));
        }

        write = new QueueIndexWrite(queue, entries, pooled, count, queue.IndexDurableNext, relocatedSeen);

        // Raised now, not once written: a relocation applied while this checkpoint is being written
        // must be recorded as owed to the index, since the snapshot holds the entry's old position.
        queue.IndexDurableNext = Math.Max(queue.IndexDurableNext, window.Next);
        return new QueueSnapshot(queue.Id, queue.Name, window.Head, next, ackedRanges, counts);
    }

    private void Execute(Deletions deletions)
    {
        if (deletions.Segments.Count > 0)
        {
            foreach (var segment in deletions.Segments)
            {
                lock (gate)
                {
                    // Decided twice when a checkpoint came before the background run of an earlier
                    // decision: the file is already gone (or kept as a spare), and must not be touched.
                    if (segment.Deleted)
                    {
                        continue;
                    }

                    segment.Deleted = true;
                    state.Segments.Remove(segment);
                }

                segment.File.Dispose();
                if (!spares.TryKeep(segment))
                {
                    // Paced, on the reclaimer's thread: deleting here would hold up the next checkpoints.
                    reclaimer.Delete(Segment.PathFor(segment.BasePosition));
                }

                Interlocked.Increment(ref _segmentsDeleted);
            }

            device.SyncDirectory(Segment.Directory);
        }

        foreach (var (queueId, head) in deletions.QueueHeads)
        {
            var deleted = false;
            foreach (var path in _index.FilesBelow(queueId, head).ToList())
            {
                device.DeleteFile(path);
                deleted = true;
            }

            if (deleted)
            {
                device.SyncDirectory(QueueIndexFiles.DirectoryFor(queueId));
            }
        }

        foreach (var queueId in deletions.Queues)
        {
            device.DeleteDirectory(QueueIndexFiles.DirectoryFor(queueId));
        }

        if (deletions.Queues.Count > 0)
        {
            device.SyncDirectory(QueueIndexFiles.Directory);
        }
    }

    private sealed record Deletions(List<Segment> Segments, List<(uint QueueId, long Head)> QueueHeads, List<uint> Queues);

    private sealed class PreparedCheckpoint(CheckpointWriter writer, Checkpoint checkpoint, List<QueueIndexWrite> writes, Deletions toExecute, Deletions decidedNow) : IPreparedCheckpoint
    {
        public Checkpoint Checkpoint { get; } = checkpoint;

        public List<QueueIndexWrite> Writes { get; } = writes;

        /// <summary>Decided at the previous checkpoint: carried out once this one stands.</summary>
        public Deletions ToExecute { get; } = toExecute;

        public Deletions DecidedNow { get; } = decidedNow;

        public long Position => Checkpoint.LogPosition;

        public void Write() => writer.Write(this);

        public void Abandon() => writer.Abandon(this);
    }
}
