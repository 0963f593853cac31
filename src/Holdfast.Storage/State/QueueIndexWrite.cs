using System.Buffers;

namespace Holdfast.Storage.State;

/// <summary>
/// One queue's part of a prepared checkpoint: the index entries to write (sorted by sequence number, in
/// an array from the shared pool when <paramref name="pooled"/>), and what to settle on the queue once
/// they stand or are given up.
/// </summary>
internal sealed class QueueIndexWrite(StoredQueue queue, (long Seq, long Position, int Length)[] entries, bool pooled, int count, long previousDurableNext, List<(long Seq, long Position)> relocatedSeen)
{
    private (long Seq, long Position, int Length)[]? _entries = entries;

    public StoredQueue Queue { get; } = queue;

    public ReadOnlySpan<(long Seq, long Position, int Length)> Entries => _entries.AsSpan(0, count);

    /// <summary>The queue's <see cref="StoredQueue.IndexDurableNext"/> before this checkpoint raised it.</summary>
    public long PreviousDurableNext { get; } = previousDurableNext;

    /// <summary>Each sequence number in <see cref="StoredQueue.Relocated"/> at the snapshot, with the position written for it (-1: acked, nothing written).</summary>
    public List<(long Seq, long Position)> RelocatedSeen { get; } = relocatedSeen;

    public void ReturnBuffer()
    {
        if (_entries is not null && pooled)
        {
            ArrayPool<(long, long, int)>.Shared.Return(_entries);
        }

        _entries = null;
    }
}
