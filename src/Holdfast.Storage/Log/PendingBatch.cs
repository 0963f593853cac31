namespace Holdfast.Storage.Log;

/// <summary>Everything appended since the writer last took a batch: the bytes and who waits for them.</summary>
internal sealed class PendingBatch
{
    public List<PendingChunk> Chunks { get; } = [];

    public List<AppendWaiter> Waiters { get; } = [];

    public bool IsEmpty => Chunks.Count == 0;

    public bool NeedsSync { get; set; }

    /// <summary>Set when an interval-policy record is in the batch: the earliest moment its fsync is owed.</summary>
    public long IntervalDeadlineTimestamp { get; set; } = long.MaxValue;

    public long IntervalBytes { get; set; } = long.MaxValue;

    public long StartPosition => Chunks[0].StartPosition;

    public long EndPosition => Chunks[^1].EndPosition;

    public void Clear()
    {
        foreach (var chunk in Chunks)
        {
            chunk.Release();
        }

        Chunks.Clear();
        Waiters.Clear();
        NeedsSync = false;
        IntervalDeadlineTimestamp = long.MaxValue;
        IntervalBytes = long.MaxValue;
    }
}
