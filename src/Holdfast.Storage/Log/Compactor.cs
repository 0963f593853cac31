using System.Buffers;

namespace Holdfast.Storage.Log;

/// <summary>
/// Keeps disk use bounded under a slow consumer: a closed segment that is mostly dead (few live
/// entries still point into it) has its live records copied to the end of the log as relocated
/// records. Applying a relocated record repoints the entries that are still live, so the old segment
/// drops to zero references and the checkpoints that follow delete it. The old copy stays readable
/// until then, and an entry acked meanwhile is simply not repointed: nothing unacked is dropped.
/// </summary>
internal sealed class Compactor(MessageStore store, SegmentCatalog segments, object gate, StoreOptions options)
{
    public static bool HasCandidates(SegmentCatalog segments, object gate, StoreOptions options)
    {
        lock (gate)
        {
            return Candidates(segments, options).Count > 0;
        }
    }

    public async Task<long> RelocateAsync()
    {
        List<Segment> candidates;
        lock (gate)
        {
            candidates = Candidates(segments, options);
        }

        var pending = new List<Task>();
        long copied = 0;
        foreach (var segment in candidates)
        {
            try
            {
                Relocate(segment, pending, ref copied);
            }
            catch (ObjectDisposedException)
            {
                // Every entry in it was acked meanwhile and the segment was reclaimed: nothing left to copy.
            }
        }

        await Task.WhenAll(pending).ConfigureAwait(false);
        return copied;
    }

    /// <summary>
    /// Reads back only the records that live entries point at, in runs (records within
    /// <see cref="RunGapBytes"/> of each other in one read): a candidate is mostly dead by definition, and a scan
    /// of all of it read, checked and then skipped the dead majority, from the disk when the page cache had let it go.
    /// A record that fails its check is left where it is, as a scan would skip it: its entries keep pointing at it,
    /// so the segment stays, and a reader writes the message off when it meets it.
    /// </summary>
    private void Relocate(Segment segment, List<Task> pending, ref long copied)
    {
        var live = LiveRecords(segment);
        var buffer = ArrayPool<byte>.Shared.Rent(RunBytes);
        try
        {
            for (var i = 0; i < live.Count;)
            {
                var start = live[i].Position;
                var end = start + live[i].Length;
                var j = i + 1;
                while (j < live.Count && live[j].Position - end <= RunGapBytes && live[j].Position + live[j].Length - start <= RunBytes)
                {
                    end = Math.Max(end, live[j].Position + live[j].Length);
                    j++;
                }

                var length = (int)(end - start);
                if (buffer.Length < length)
                {
                    ArrayPool<byte>.Shared.Return(buffer);
                    buffer = ArrayPool<byte>.Shared.Rent(length);
                }

                var run = buffer.AsSpan(0, length);
                if (segment.File.Read(start - segment.BasePosition, run) == length)
                {
                    for (var k = i; k < j; k++)
                    {
                        var (position, recordLength) = live[k];
                        copied += RelocateRecord(run.Slice((int)(position - start), recordLength), position, pending);
                    }
                }

                i = j;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private const int RunGapBytes = 16 * 1024;
    private const int EntriesPerSlice = 64 * 1024;
    private const int RunBytes = 1 << 20;

    /// <summary>The distinct records in <paramref name="segment"/> that some live entry points at, in log order.</summary>
    private List<(long Position, int Length)> LiveRecords(Segment segment)
    {
        var live = new List<(long Position, int Length)>();
        List<StoredQueue> queues;
        lock (gate)
        {
            queues = [.. store.State.QueuesById.Values];
        }

        // Every queue's window, a slice at a time under the lock, so a deep queue does not hold appends up for the
        // whole walk. What a slice finds may be acked or moved by the time it is copied: the copy checks again.
        foreach (var queue in queues)
        {
            for (var seq = 0L; ;)
            {
                lock (gate)
                {
                    var window = queue.Entries;
                    seq = Math.Max(seq, window.Head);
                    if (queue.IsDeleted || seq >= window.Next)
                    {
                        break;
                    }

                    var end = segment.EndPosition;
                    for (var last = Math.Min(window.Next, seq + EntriesPerSlice); seq < last; seq++)
                    {
                        ref var entry = ref window[seq];
                        if (entry.IsLive && entry.Position >= segment.BasePosition && entry.Position < end)
                        {
                            live.Add((entry.Position, entry.Length));
                        }
                    }
                }
            }
        }

        // A message routed to several queues is one record.
        live.Sort(static (a, b) => a.Position.CompareTo(b.Position));
        var distinct = 0;
        for (var i = 0; i < live.Count; i++)
        {
            if (distinct == 0 || live[i].Position != live[distinct - 1].Position)
            {
                live[distinct++] = live[i];
            }
        }

        live.RemoveRange(distinct, live.Count - distinct);
        return live;
    }

    /// <summary>Appends a relocated copy of one message record for the entries that still point at it; 1 when it did.</summary>
    private int RelocateRecord(ReadOnlySpan<byte> bytes, long position, List<Task> pending)
    {
        if (!RecordFormat.TryDecode(bytes, options.MaxRecordPayloadBytes, position, out var record) || record.Type != RecordType.Message)
        {
            return 0;
        }

        var payload = bytes.Slice(record.HeaderSize, record.PayloadLength);
        var targets = MessagePayload.ReadTargets(payload, record.Flags, out var bodyOffset);
        lock (gate)
        {
            targets.RemoveAll(t => !PointsHere(t.QueueId, t.Seq, position));
            if (targets.Count == 0)
            {
                return 0;
            }

            pending.Add(store.AppendRelocatedLocked(targets, payload[bodyOffset..]).AsTask());
            return 1;
        }
    }

    private bool PointsHere(uint queueId, long seq, long position)
    {
        var queue = store.State.Find(queueId);
        return queue is not null && queue.Entries.Contains(seq) && queue.Entries[seq].IsLive && queue.Entries[seq].Position == position;
    }

    private static List<Segment> Candidates(SegmentCatalog segments, StoreOptions options) =>
        segments.All
            .Where(s => s != segments.Last && !s.Deleted && s.LiveReferences > 0 && s.LiveBytes < options.CompactBelowLiveFraction * s.Length)
            .ToList();
}
