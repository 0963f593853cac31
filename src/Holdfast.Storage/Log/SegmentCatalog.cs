namespace Holdfast.Storage.Log;

/// <summary>The segments of the log in position order. Callers hold the store's lock.</summary>
internal sealed class SegmentCatalog
{
    private readonly List<Segment> _segments = [];

    public int Count => _segments.Count;

    public IReadOnlyList<Segment> All => _segments;

    public Segment? Last => _segments.Count == 0 ? null : _segments[^1];

    public void Add(Segment segment)
    {
        if (_segments.Count > 0 && _segments[^1].BasePosition >= segment.BasePosition)
        {
            throw new InvalidOperationException($"Segment {segment.BasePosition} does not follow {_segments[^1].BasePosition}.");
        }

        _segments.Add(segment);
    }

    public void Remove(Segment segment) => _segments.Remove(segment);

    /// <summary>The segment holding <paramref name="position"/>, or null when it was deleted or never existed.</summary>
    public Segment? Find(long position)
    {
        var at = LastStartingAtOrBefore(position);
        if (at < 0)
        {
            return null;
        }

        var candidate = _segments[at];
        return position < candidate.EndPosition || candidate == _segments[^1] ? candidate : null;
    }

    /// <summary>The first segment with bytes at or after <paramref name="position"/>, or null when there is none.</summary>
    public Segment? FirstEndingAfter(long position)
    {
        var at = LastStartingAtOrBefore(position);
        if (at >= 0 && position < _segments[at].EndPosition)
        {
            return _segments[at];
        }

        return at + 1 < _segments.Count ? _segments[at + 1] : null;
    }

    private int LastStartingAtOrBefore(long position) => LastStartingAtOrBefore(_segments, position);

    /// <summary>In segments sorted by base position, the index of the last one starting at or before <paramref name="position"/>; -1 when none does.</summary>
    public static int LastStartingAtOrBefore(IReadOnlyList<Segment> segments, long position)
    {
        int lo = 0, hi = segments.Count - 1;
        while (lo <= hi)
        {
            var mid = (lo + hi) >>> 1;
            if (segments[mid].BasePosition <= position)
            {
                lo = mid + 1;
            }
            else
            {
                hi = mid - 1;
            }
        }

        return hi;
    }
}
