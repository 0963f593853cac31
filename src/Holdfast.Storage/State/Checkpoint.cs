namespace Holdfast.Storage.State;

/// <summary>The store's state as of one log position: replay starts there.</summary>
internal sealed record Checkpoint(
    long Generation,
    long LogPosition,
    uint NextQueueId,
    IReadOnlyList<QueueSnapshot> Queues,
    IReadOnlyDictionary<string, long> Offsets,
    IReadOnlyDictionary<string, byte[]> Metadata);
