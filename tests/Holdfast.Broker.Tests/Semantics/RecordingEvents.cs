using System.Collections.Concurrent;
using Holdfast.Broker.Messages;
using Holdfast.Broker.Sessions;

namespace Holdfast.Broker.Tests.Semantics;

/// <summary>A channel's front door that only records what the broker told it.</summary>
internal sealed class RecordingEvents : IChannelEvents
{
    public ConcurrentQueue<Delivery> Deliveries { get; } = new();

    public ConcurrentQueue<(ulong Sequence, bool Multiple, bool Ack)> Confirms { get; } = new();

    public ConcurrentQueue<BrokerMessage> Returns { get; } = new();

    public ConcurrentQueue<string> Cancelled { get; } = new();

    public bool IsCongested => false;

    /// <summary>When set and it returns an exception for a delivery, <see cref="Deliver"/> throws it instead of recording.</summary>
    public Func<Delivery, Exception?>? Unsendable { get; set; }

    public void Deliver(in Delivery delivery)
    {
        if (Unsendable?.Invoke(delivery) is { } failure)
        {
            throw failure;
        }

        Deliveries.Enqueue(delivery);
    }

    /// <summary>When set and it returns an exception for a message, <see cref="ReturnMessage"/> throws it instead of recording.</summary>
    public Func<BrokerMessage, Exception?>? Unreturnable { get; set; }

    public void ReturnMessage(BrokerMessage message, ReturnReason reason)
    {
        if (Unreturnable?.Invoke(message) is { } failure)
        {
            throw failure;
        }

        Returns.Enqueue(message);
    }

    public void Confirm(ulong sequence, bool multiple, bool ack) => Confirms.Enqueue((sequence, multiple, ack));

    /// <summary>Whether publish <paramref name="sequence"/> was acked, alone or by a multiple ack up to a later one (confirms that complete together are coalesced).</summary>
    public bool Acked(ulong sequence) => Confirms.Any(c => c.Ack && (c.Sequence == sequence || (c.Multiple && c.Sequence > sequence)));

    public void ConsumerCancelled(string consumerTag) => Cancelled.Enqueue(consumerTag);

    public ConcurrentQueue<BrokerException> Failures { get; } = new();

    public void Fail(BrokerException reason) => Failures.Enqueue(reason);
}
