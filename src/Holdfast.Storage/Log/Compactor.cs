using Holdfast.Storage.Recovery;

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

    private void Relocate(Segment segment, List<Task> pending, ref long copied)
    {
        long count = 0;
        SegmentScanner.Scan(segment, segment.BasePosition, options.MaxRecordPayloadBytes, (position, record, payload) =>
        {
            if (record.Type != RecordType.Message)
            {
                return;
            }

            var targets = MessagePayload.ReadTargets(payload, record.Flags, out var bodyOffset);
            lock (gate)
            {
                targets.RemoveAll(t => !PointsHere(t.QueueId, t.Seq, position));
                if (targets.Count > 0)
                {
                    pending.Add(store.AppendRelocatedLocked(targets, payload[bodyOffset..]).AsTask());
                    count++;
                }
            }
        });
        copied += count;
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
