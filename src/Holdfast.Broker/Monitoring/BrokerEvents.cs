using System.Diagnostics.Metrics;

namespace Holdfast.Broker.Monitoring;

/// <summary>
/// Counts what the broker kept rather than lost, as metrics on the <see cref="MeterName"/> meter
/// (read them with dotnet-counters or any OpenTelemetry exporter), and tells the <see cref="Observer"/>.
/// </summary>
public sealed class BrokerEvents
{
    public const string MeterName = "Holdfast.Broker";

    private static readonly Meter Meter = new(MeterName);

    private static readonly Counter<long> DeadLettersKept = Meter.CreateCounter<long>(
        "holdfast.dead_letters.kept", unit: "{message}", description: "Dead letters that found no home (no route, a full target, a failed write) and stayed in their source queue");

    private static readonly Counter<long> DelayedRefused = Meter.CreateCounter<long>(
        "holdfast.delayed.releases_refused", unit: "{message}", description: "Delayed-message releases a full queue refused; the message stayed held");

    // Tagged with kind: deliver (to a consumer) and get (a basic.get answer) also carry the queue, return the exchange.
    private static readonly Counter<long> DeliveriesFailed = Meter.CreateCounter<long>(
        "holdfast.deliveries.failed", unit: "{delivery}", description: "Messages the door could not send to a client, by kind: a delivery or basic.get answer (the message stayed in its queue) or a basic.return (the message was not confirmed); the channel was closed");

    private static readonly Counter<long> QueueArgumentsIgnored = Meter.CreateCounter<long>(
        "holdfast.queue_arguments.ignored", unit: "{queue}", description: "Queues created or restored without an argument they could not use (from a policy or an older version's declare)");

    public IBrokerObserver? Observer { get; set; }

    internal void ArgumentsIgnored(string virtualHost, string queue, string why)
    {
        QueueArgumentsIgnored.Add(1, new KeyValuePair<string, object?>("vhost", virtualHost), new KeyValuePair<string, object?>("queue", queue));
        Observer?.ArgumentsIgnored(virtualHost, queue, why);
    }

    internal void DeliveryFailed(string virtualHost, string queue, string consumerTag, Exception exception)
    {
        DeliveriesFailed.Add(1, new KeyValuePair<string, object?>("vhost", virtualHost), new KeyValuePair<string, object?>("kind", "deliver"), new KeyValuePair<string, object?>("queue", queue));
        Observer?.DeliveryFailed(virtualHost, queue, consumerTag, exception);
    }

    internal void GetFailed(string virtualHost, string queue, Exception exception)
    {
        DeliveriesFailed.Add(1, new KeyValuePair<string, object?>("vhost", virtualHost), new KeyValuePair<string, object?>("kind", "get"), new KeyValuePair<string, object?>("queue", queue));
        Observer?.GetFailed(virtualHost, queue, exception);
    }

    internal void ReturnFailed(string virtualHost, string exchange, string routingKey, Exception exception)
    {
        DeliveriesFailed.Add(1, new KeyValuePair<string, object?>("vhost", virtualHost), new KeyValuePair<string, object?>("kind", "return"), new KeyValuePair<string, object?>("exchange", exchange));
        Observer?.ReturnFailed(virtualHost, exchange, routingKey, exception);
    }

    internal void DeadLetterKept(string virtualHost, string queue, string reason, string why)
    {
        DeadLettersKept.Add(1, new KeyValuePair<string, object?>("vhost", virtualHost), new KeyValuePair<string, object?>("queue", queue), new KeyValuePair<string, object?>("reason", reason));
        Observer?.DeadLetterKept(virtualHost, queue, reason, why);
    }

    internal void DelayedReleaseRefused(string virtualHost, string exchange, string routingKey)
    {
        DelayedRefused.Add(1, new KeyValuePair<string, object?>("vhost", virtualHost), new KeyValuePair<string, object?>("exchange", exchange));
        Observer?.DelayedReleaseRefused(virtualHost, exchange, routingKey);
    }
}
