using Holdfast.Storage.Devices;
using Holdfast.Storage.Log;
using Holdfast.Storage.Queues;

namespace Holdfast.Storage.State;

/// <summary>
/// Takes checkpoints on the log writer's thread: snapshot the state under the lock, write the index
/// entries added or repointed since the last checkpoint and fsync them, write the checkpoint file, then
/// carry out the deletions decided at the previous checkpoint (for an automatic checkpoint, on a
/// background task, one deletion batch after another, so a slow unlink never holds up the log). Deciding at one checkpoint and deleting
/// at the next means both checkpoints kept on disk are past every deleted file, so opening from
/// either is sound.
/// </summary>
internal sealed class CheckpointWriter(IStorageDevice device, object gate, StoreState state, SpareSegments spares)
{
    private readonly QueueIndexFiles _index = new(device);
    private Deletions _decided = new([], [], []);
    private Task _deleting = Task.CompletedTask;
    private long _segmentsDeleted;
    private long _deletionFailures;

    public long Generation { get; set; }

    public long Checkpoints { get; private set; }

    public long SegmentsDeleted => Interlocked.Read(ref _segmentsDeleted);

    /// <summary>Files a background deletion could not remove (they stay on disk, unreferenced, and cost only space).</summary>
    public long DeletionFailures => Interlocked.Read(ref _deletionFailures);

    /// <summary>Waits for deletions handed to the background (before the store closes its files).</summary>
    public void WaitForDeletions()
    {
#pragma warning disable VSTHRD002 // Called from Dispose and the dedicated writer thread; the task never needs either to finish.
        _deleting.GetAwaiter().GetResult();
#pragma warning restore VSTHRD002
    }

    public void Write(long position, bool deferDeletions = false)
    {
        Checkpoint checkpoint;
        List<(StoredQueue Queue, List<(long, long, int)> Entries, long Next)> writes = [];
        Deletions toExecute;
        Deletions decidedNow;
        lock (gate)
        {
            var queues = new List<QueueSnapshot>(state.QueuesById.Count);
            var heads = new List<(uint, long)>();
            foreach (var queue in state.QueuesById.Values)
            {
                queues.Add(Snapshot(queue, out var entries));
                writes.Add((queue, entries, queue.Entries.Next));
                heads.Add((queue.Id, queue.Entries.Head));
            }

            checkpoint = new Checkpoint(
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
            toExecute = _decided;
            decidedNow = new Deletions(deadSegments, heads, [.. state.DeletedQueues]);
        }

        foreach (var (queue, entries, _) in writes)
        {
            _index.Write(queue.Id, entries);
        }

        CheckpointFile.Write(device, checkpoint);
        Generation = checkpoint.Generation;
        Checkpoints++;

        lock (gate)
        {
            foreach (var (queue, _, next) in writes)
            {
                queue.IndexDurableNext = Math.Max(queue.IndexDurableNext, next);
                queue.Relocated.Clear();
            }

            // Only now that the checkpoint stands do its decisions count; a failed checkpoint decides nothing.
            state.DeletedQueues.RemoveAll(decidedNow.Queues.Contains);
            _decided = decidedNow;
        }

        if (deferDeletions)
        {
            var previous = _deleting;
            _deleting = Task.Run(async () =>
            {
#pragma warning disable VSTHRD003 // This writer's own previous deletion task: deletions run one after another.
                await previous.ConfigureAwait(false);
#pragma warning restore VSTHRD003
                try
                {
                    Execute(toExecute);
                }
                catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
                {
                    Interlocked.Increment(ref _deletionFailures);
                }
            });
            return;
        }

        // A checkpoint someone waits for finishes its deletions before it reports, as tests and compaction expect.
        WaitForDeletions();
        Execute(toExecute);
    }

    private static QueueSnapshot Snapshot(StoredQueue queue, out List<(long, long, int)> entries)
    {
        var window = queue.Entries;
        var ackedRanges = new List<(long, int)>();
        var counts = new List<(long, int)>();
        entries = [];
        var from = Math.Max(queue.IndexDurableNext, window.Head);
        foreach (var seq in queue.Relocated.Where(s => s < from).Order())
        {
            if (window.Contains(seq) && window[seq].IsLive)
            {
                entries.Add((seq, window[seq].Position, window[seq].Length));
            }
        }

        long rangeStart = -1;
        for (var seq = window.Head; seq < window.Next; seq++)
        {
            ref var entry = ref window[seq];
            if (!entry.IsLive)
            {
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
                counts.Add((seq, entry.DeliveryCount));
            }

            if (seq >= from)
            {
                entries.Add((seq, entry.Position, entry.Length));
            }
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
                    device.DeleteFile(Segment.PathFor(segment.BasePosition));
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
}
