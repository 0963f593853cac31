namespace Holdfast.Storage.Queues;

internal enum EntryState : byte
{
    /// <summary>Acknowledged, purged, or a sequence number whose record never reached the log: gone for good.</summary>
    Acked = 0,
    Ready = 1,

    /// <summary>Handed to a reader and not yet acked or requeued. Not persisted: after a restart it is ready again.</summary>
    Delivered = 2,
}
