using System.Collections.Concurrent;
using Holdfast.Broker.Monitoring;

namespace Holdfast.Conformance.Tests.Support;

/// <summary>
/// What the in-process broker tells its host about messages it could not send, for tests that check the operator hears
/// of them. <see cref="Install"/> puts it in place of the host's logging observer.
/// </summary>
internal sealed class RecordingBrokerObserver : IBrokerObserver
{
    public ConcurrentQueue<(string VirtualHost, string Queue, string ConsumerTag, Exception Exception)> Deliveries { get; } = new();

    public ConcurrentQueue<(string VirtualHost, string Queue, Exception Exception)> Gets { get; } = new();

    public ConcurrentQueue<(string VirtualHost, string Exchange, string RoutingKey, Exception Exception)> Returns { get; } = new();

    /// <summary>A recorder on <paramref name="broker"/> when it runs in this process; against an external broker, one that hears nothing.</summary>
    public static RecordingBrokerObserver Install(InProcessBroker broker)
    {
        var observer = new RecordingBrokerObserver();
        if (!broker.IsExternal)
        {
            broker.Server.Broker.Events.Observer = observer;
        }

        return observer;
    }

    public void DeliveryFailed(string virtualHost, string queue, string consumerTag, Exception exception) =>
        Deliveries.Enqueue((virtualHost, queue, consumerTag, exception));

    public void GetFailed(string virtualHost, string queue, Exception exception) =>
        Gets.Enqueue((virtualHost, queue, exception));

    public void ReturnFailed(string virtualHost, string exchange, string routingKey, Exception exception) =>
        Returns.Enqueue((virtualHost, exchange, routingKey, exception));

    public void DeadLetterKept(string virtualHost, string queue, string reason, string why)
    {
    }

    public void DelayedReleaseRefused(string virtualHost, string exchange, string routingKey)
    {
    }

    public void ArgumentsIgnored(string virtualHost, string queue, string why)
    {
    }
}
