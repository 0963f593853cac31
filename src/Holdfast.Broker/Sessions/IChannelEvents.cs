using Holdfast.Broker.Messages;

namespace Holdfast.Broker.Sessions;

/// <summary>
/// What the broker tells a channel's front door, from any thread: deliveries, returns, confirms and
/// server-side cancels. Implementations only queue frames for the socket; they never call back into the broker.
/// </summary>
public interface IChannelEvents
{
    /// <summary>True while the client's socket lags: deliveries wait until the door calls <see cref="BrokerChannel.ResumeDeliveries"/>.</summary>
    bool IsCongested { get; }

    /// <summary>Sends a delivery. Called with the queue's and the channel's locks held, so it must not block.</summary>
    void Deliver(in Delivery delivery);

    void ReturnMessage(BrokerMessage message, ReturnReason reason);

    /// <summary>A publisher confirm: ack (or nack) of <paramref name="sequence"/>, and of every earlier one when <paramref name="multiple"/>.</summary>
    void Confirm(ulong sequence, bool multiple, bool ack);

    /// <summary>The broker cancelled a consumer (its queue was deleted).</summary>
    void ConsumerCancelled(string consumerTag);
}
