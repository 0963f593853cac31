using Holdfast.Broker.Messages;
using Holdfast.Storage;

namespace Holdfast.Broker.Queues;

/// <summary>
/// One message in one queue. <see cref="Message"/> is null only for a message recovered from the
/// store whose body has not been read back yet; it is read when first delivered.
/// </summary>
internal sealed class QueuedMessage(long seq, StoredQueue? index, long storeSeq, BrokerMessage? message, int deliveryCount, bool redelivered)
{
    /// <summary>The queue's order: ready messages go out, and requeued ones go back, by this number.</summary>
    public long Seq { get; } = seq;

    /// <summary>The store index holding the message: the queue's durable index, its page index, or null when held in memory only.</summary>
    public StoredQueue? Index { get; } = index;

    /// <summary>The message's sequence number in <see cref="Index"/>.</summary>
    public long StoreSeq { get; } = storeSeq;

    public BrokerMessage? Message { get; set; } = message;

    /// <summary>Deliveries that ended in a requeue (persisted for stored messages).</summary>
    public int DeliveryCount { get; set; } = deliveryCount;

    public bool Redelivered { get; set; } = redelivered;

    public bool IsStored => Index is not null && StoreSeq >= 0;

    /// <summary>When the message arrived, Unix ms: its TTL runs from here. 0 until known (a recovered message not yet read).</summary>
    public long ArrivedAtMs { get; set; }

    /// <summary>When it expires, Unix ms; <see cref="long.MaxValue"/> for never; unknown (-1) for a recovered message not yet read.</summary>
    public long ExpiresAtMs { get; set; } = long.MaxValue;

    /// <summary>The message's priority, capped at the queue's <c>x-max-priority</c> (0 in other queues).</summary>
    public int Priority { get; set; }

    /// <summary>Set once the message is being dead-lettered: its body stays in memory until it has a new home.</summary>
    public bool Leaving { get; set; }

    /// <summary>Whether the body's bytes are counted in <see cref="MessageMemory"/>.</summary>
    public bool Held { get; set; }

    public long BodySize => Message?.Body.Length ?? 0;

    /// <summary>Whether the entry is in its queue's ready list (kept by the list): only a ready message's body may leave memory.</summary>
    public bool InReadyList { get; set; }

    private readonly long _arrivalSize = message?.Body.Length ?? 0;

    /// <summary>The stored record's size, standing in for the body's while a recovered message has not been read back.</summary>
    public long RecoveredSize { get; init; }

    /// <summary>What the message counts against <c>x-max-length-bytes</c> while ready; fixed so adding and removing balance.</summary>
    public long ReadySize => RecoveredSize > 0 ? RecoveredSize : _arrivalSize;
}
