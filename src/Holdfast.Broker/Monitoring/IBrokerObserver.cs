namespace Holdfast.Broker.Monitoring;

/// <summary>
/// What the broker tells its host about messages it kept instead of losing: the host logs them.
/// Called on the broker's own threads, some under a channel's or queue's lock: an implementation must be quick and
/// should not throw. One that throws is not heard: <see cref="BrokerEvents"/> catches it, counts it as
/// <c>holdfast.observer.failures</c> and goes on, so the broker does the same whatever the host's log does.
/// </summary>
public interface IBrokerObserver
{
    /// <summary>A dead letter found no home (<paramref name="why"/>): it stays in <paramref name="queue"/> and is tried again in 5 s.</summary>
    void DeadLetterKept(string virtualHost, string queue, string reason, string why);

    /// <summary>A delayed message's release was refused by a full queue: it stays held and is tried again in 5 s.</summary>
    void DelayedReleaseRefused(string virtualHost, string exchange, string routingKey);

    /// <summary>
    /// A delivery to <paramref name="consumerTag"/> could not be sent (<paramref name="exception"/>): the message went
    /// back to <paramref name="queue"/> in its place and the consumer's channel is being closed. A
    /// <see cref="BrokerException"/> names a refusal the client caused (a frame-max too small for the message);
    /// anything else is a bug.
    /// </summary>
    void DeliveryFailed(string virtualHost, string queue, string consumerTag, Exception exception);

    /// <summary>
    /// The answer to a basic.get from <paramref name="queue"/> could not be sent (<paramref name="exception"/>): the message
    /// stays in its place in the queue and the channel that asked is being closed. A <see cref="BrokerException"/> names a
    /// refusal the client caused (a frame-max too small for the message); anything else is a bug.
    /// </summary>
    void GetFailed(string virtualHost, string queue, Exception exception);

    /// <summary>
    /// An unroutable mandatory message published to <paramref name="exchange"/> could not be returned to its publisher
    /// (<paramref name="exception"/>): it is not confirmed (in a transaction, the commit stands) and the publisher's
    /// channel is being closed. A <see cref="BrokerException"/> names a refusal the client caused (properties the
    /// broker made too long for its frame-max); anything else is a bug.
    /// </summary>
    void ReturnFailed(string virtualHost, string exchange, string routingKey, Exception exception);

    /// <summary>
    /// A queue being created or restored had an argument it cannot use (<paramref name="why"/>), from a policy set
    /// before its values were checked or a declare an older version accepted: the queue runs without that argument
    /// rather than not at all, since refusing it at start-up would hold back every message in the store.
    /// </summary>
    void ArgumentsIgnored(string virtualHost, string queue, string why);
}
