namespace Holdfast.Storage.State;

/// <summary>A queue as a checkpoint records it. Entries themselves live in the index files.</summary>
internal sealed record QueueSnapshot(
    uint Id,
    string Name,
    long Head,
    long Next,
    IReadOnlyList<(long Start, int Count)> AckedRanges,
    IReadOnlyList<(long Seq, int Count)> DeliveryCounts);
