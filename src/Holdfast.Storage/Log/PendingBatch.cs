namespace Holdfast.Storage.Log;

/// <summary>Everything appended since the writer last took a batch: the bytes and who waits for them.</summary>
internal sealed class PendingBatch
{
    // Chunk objects kept by Clear for the next AddChunk, so that a batch of one record (a publisher
    // awaiting each confirm) allocates nothing. Their buffers go back to the pool regardless; the cap
    // keeps a burst of many chunks from being held for good.
    private const int ReusableChunks = 4;
    private readonly Stack<PendingChunk> _reusable = new();

    public List<PendingChunk> Chunks { get; } = [];

    public List<AppendWaiter> Waiters { get; } = [];

    public bool IsEmpty => Chunks.Count == 0;

    public bool NeedsSync { get; set; }

    /// <summary>True once a record somebody waits for is in the batch: the writer takes it at once.</summary>
    public bool Observed { get; set; }

    /// <summary>Set by the batch's first unobserved record: the <see cref="System.Diagnostics.Stopwatch"/> moment the writer takes it even if nothing observed joins it.</summary>
    public long LingerUntil { get; set; } = long.MaxValue;

    /// <summary>Set when an interval-policy record is in the batch: the earliest moment its fsync is owed.</summary>
    public long IntervalDeadlineTimestamp { get; set; } = long.MaxValue;

    public long IntervalBytes { get; set; } = long.MaxValue;

    public long StartPosition => Chunks[0].StartPosition;

    public long EndPosition => Chunks[^1].EndPosition;

    /// <summary>Adds a chunk for records of one segment from <paramref name="startPosition"/> on, with room for at least <paramref name="capacity"/> bytes.</summary>
    public PendingChunk AddChunk(long segmentBase, long startPosition, int capacity)
    {
        if (!_reusable.TryPop(out var chunk))
        {
            chunk = new PendingChunk();
        }

        chunk.Reset(segmentBase, startPosition, capacity);
        Chunks.Add(chunk);
        return chunk;
    }

    public void Clear()
    {
        foreach (var chunk in Chunks)
        {
            chunk.Release();
            if (_reusable.Count < ReusableChunks)
            {
                _reusable.Push(chunk);
            }
        }

        Chunks.Clear();
        Waiters.Clear();
        NeedsSync = false;
        Observed = false;
        LingerUntil = long.MaxValue;
        IntervalDeadlineTimestamp = long.MaxValue;
        IntervalBytes = long.MaxValue;
    }
}
