using System.Buffers;
using System.Runtime.InteropServices;

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

        var live = LiveRecords(candidates);
        var pending = new List<Task>();
        long copied = 0;
        for (var i = 0; i < candidates.Count; i++)
        {
            try
            {
                copied += Relocate(candidates[i], CollectionsMarshal.AsSpan(live[i]), pending);
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
    /// so the segment stays, and a reader writes the message off when it meets it. Returns the records copied.
    /// </summary>
    private long Relocate(Segment segment, ReadOnlySpan<(long Position, int Length, long Seq)> live, List<Task> pending)
    {
        long copied = 0;
        var buffer = ArrayPool<byte>.Shared.Rent(RunBytes);
        try
        {
            for (var i = 0; i < live.Length;)
            {
                var start = live[i].Position;
                var j = ReadRuns.End(live, i, RunGapBytes, RunBytes, out var end);
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
                        var (position, recordLength, _) = live[k];
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

        return copied;
    }

    private const int RunGapBytes = 16 * 1024;
    private const int RunBytes = 1 << 20;
    private const int EntriesPerSlice = 64 * 1024;

    /// <summary>
    /// For each candidate (in log order, as <see cref="Candidates"/> lists them), the distinct records in it that some
    /// live entry points at, sorted by position (the third field is unused). One walk serves every candidate.
    /// </summary>
    private List<List<(long Position, int Length, long Seq)>> LiveRecords(List<Segment> candidates)
    {
        var live = candidates.ConvertAll(_ => new List<(long Position, int Length, long Seq)>());
        if (candidates.Count == 0)
        {
            return live;
        }

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

                    for (var last = Math.Min(window.Next, seq + EntriesPerSlice); seq < last; seq++)
                    {
                        ref var entry = ref window[seq];
                        if (entry.IsLive && CandidateHolding(candidates, entry.Position) is var at and >= 0)
                        {
                            live[at].Add((entry.Position, entry.Length, 0));
                        }
                    }
                }
            }
        }

        // A message routed to several queues is one record.
        foreach (var records in live)
        {
            records.Sort(static (a, b) => a.Position.CompareTo(b.Position));
            var distinct = 0;
            for (var i = 0; i < records.Count; i++)
            {
                if (distinct == 0 || records[i].Position != records[distinct - 1].Position)
                {
                    records[distinct++] = records[i];
                }
            }

            records.RemoveRange(distinct, records.Count - distinct);
        }

        return live;
    }

    /// <summary>The index of the candidate whose bytes hold <paramref name="position"/>, or -1. Candidates are closed: their ends are fixed.</summary>
    private static int CandidateHolding(List<Segment> candidates, long position)
    {
        var at = SegmentCatalog.LastStartingAtOrBefore(candidates, position);
        return at >= 0 && position < candidates[at].EndPosition ? at : -1;
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
