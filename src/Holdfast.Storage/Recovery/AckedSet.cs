namespace Holdfast.Storage.Recovery;

/// <summary>Sorted, non-overlapping ranges of acked sequence numbers, as a checkpoint stores them.</summary>
internal sealed class AckedSet(IReadOnlyList<(long Start, int Count)> ranges)
{
    public bool Contains(long seq)
    {
        int lo = 0, hi = ranges.Count - 1;
        while (lo <= hi)
        {
            var mid = (lo + hi) >>> 1;
            var (start, count) = ranges[mid];
            if (seq < start)
            {
                hi = mid - 1;
            }
            else if (seq >= start + count)
            {
                lo = mid + 1;
            }
            else
            {
                return true;
            }
        }

        return false;
    }
}
