namespace Holdfast.Storage.Queues;

/// <summary>One message in one queue: where its record is, and where it stands.</summary>
internal struct QueueEntry
{
    public long Position;
    public int Length;
    public int DeliveryCount;
    public EntryState State;

    public readonly bool IsLive => State != EntryState.Acked;
}
