using Holdfast.Broker.Queues;

namespace Holdfast.Broker.Sessions;

/// <summary>A subscription of one channel to one queue. Its counters change under the channel's lock.</summary>
internal sealed class Consumer(string tag, BrokerChannel channel, MessageQueue queue, bool noAck, bool exclusive, int prefetchCount, long prefetchBytes)
{
    public string Tag { get; } = tag;

    public BrokerChannel Channel { get; } = channel;

    public MessageQueue Queue { get; } = queue;

    public bool NoAck { get; } = noAck;

    public bool Exclusive { get; } = exclusive;

    /// <summary>Per-consumer prefetch (basic.qos global=false) as it was when the consumer started; 0 is no limit.</summary>
    public int PrefetchCount { get; } = prefetchCount;

    public long PrefetchBytes { get; } = prefetchBytes;

    public int Unacked { get; set; }

    public long UnackedBytes { get; set; }

    /// <summary>False until the door has announced the consumer (consume-ok), so no delivery can overtake that reply.</summary>
    public bool Active { get; set; }

    /// <summary>Set once the consumer is cancelled: a queue that still holds it in a dispatch snapshot skips it.</summary>
    public bool Cancelled { get; set; }
}
