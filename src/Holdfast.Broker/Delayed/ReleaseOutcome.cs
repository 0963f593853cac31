namespace Holdfast.Broker.Delayed;

/// <summary>What routing a released delayed message did with it.</summary>
internal enum ReleaseOutcome
{
    /// <summary>Stored in its queues by a record that also acked the held copy.</summary>
    Moved,

    /// <summary>Placed (or routed nowhere) without touching the held copy: the scheduler acks it.</summary>
    Placed,

    /// <summary>A queue refused it (full, <c>reject-publish</c>): it stays held and is tried again later.</summary>
    Refused,
}
