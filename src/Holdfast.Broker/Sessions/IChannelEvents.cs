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

    /// <summary>
    /// Sends a delivery. Called with the queue's and the channel's locks held, so it must not block. Throws when this
    /// client cannot be sent this message (a <see cref="BrokerException"/> says why in the client's terms); nothing
    /// of it may have been sent then, since the broker puts the message back and calls <see cref="Fail"/>.
    /// </summary>
    void Deliver(in Delivery delivery);

    /// <summary>
    /// The broker has given up on this channel (<paramref name="reason"/>: a delivery, or a return in a commit, it could not send) and sends it
    /// nothing more: the door closes it with that reason. Called with the broker's locks held, from any thread: it
    /// must only ask for the close, never wait for it.
    /// </summary>
    void Fail(BrokerException reason);

    /// <summary>
    /// Returns an unroutable mandatory message to its publisher, on the publisher's own thread. Throws a
    /// <see cref="BrokerException"/> when this client cannot be sent it (nothing of it sent then): the broker lets the
    /// exception end the publish (or, in a commit, the commit once done), so the door closes the channel with it and the
    /// publisher, never confirmed, knows something went wrong. Anything else thrown is a bug, taken the same way as an
    /// internal error.
    /// </summary>
    void ReturnMessage(BrokerMessage message, ReturnReason reason);

    /// <summary>A publisher confirm: ack (or nack) of <paramref name="sequence"/>, and of every earlier one when <paramref name="multiple"/>.</summary>
    void Confirm(ulong sequence, bool multiple, bool ack);

    /// <summary>The broker cancelled a consumer (its queue was deleted).</summary>
    void ConsumerCancelled(string consumerTag);
}
