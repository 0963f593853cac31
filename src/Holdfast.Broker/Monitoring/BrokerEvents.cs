using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Holdfast.Broker.Monitoring;

/// <summary>
/// Counts what the broker kept rather than lost, as metrics on the <see cref="MeterName"/> meter
/// (read them with dotnet-counters or any OpenTelemetry exporter), and tells the <see cref="Observer"/>.
/// </summary>
/// <remarks>
/// These reports are made from the middle of broker paths (a delivery half undone, a batch of dead letters, a queue
/// being restored), so none of them may throw into it: the broker's state must not depend on a host's logger, or a meter
/// listener, returning normally. What they throw is caught here, counted as <c>holdfast.observer.failures</c> and
/// traced, and the broker goes on as if the report had been made.
/// </remarks>
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

    // Tagged with the callback (an IBrokerObserver method, or the counter a listener failed on) and error.type.
    private static readonly Counter<long> ObserverFailures = Meter.CreateCounter<long>(
        "holdfast.observer.failures", unit: "{report}", description: "Reports to the host's observer (its log) or to a meter listener that threw; the broker went on without them, so the log may be missing what the other counters show");

    public IBrokerObserver? Observer { get; set; }

    internal void ArgumentsIgnored(string virtualHost, string queue, string why)
    {
        Count(QueueArgumentsIgnored, new TagList { { "vhost", virtualHost }, { "queue", queue } });
        Tell(nameof(IBrokerObserver.ArgumentsIgnored), (virtualHost, queue, why), static (o, a) => o.ArgumentsIgnored(a.virtualHost, a.queue, a.why));
    }

    internal void DeliveryFailed(string virtualHost, string queue, string consumerTag, Exception exception)
    {
        Count(DeliveriesFailed, new TagList { { "vhost", virtualHost }, { "kind", "deliver" }, { "queue", queue } });
        Tell(nameof(IBrokerObserver.DeliveryFailed), (virtualHost, queue, consumerTag, exception), static (o, a) => o.DeliveryFailed(a.virtualHost, a.queue, a.consumerTag, a.exception));
    }

    internal void GetFailed(string virtualHost, string queue, Exception exception)
    {
        Count(DeliveriesFailed, new TagList { { "vhost", virtualHost }, { "kind", "get" }, { "queue", queue } });
        Tell(nameof(IBrokerObserver.GetFailed), (virtualHost, queue, exception), static (o, a) => o.GetFailed(a.virtualHost, a.queue, a.exception));
    }

    internal void ReturnFailed(string virtualHost, string exchange, string routingKey, Exception exception)
    {
        Count(DeliveriesFailed, new TagList { { "vhost", virtualHost }, { "kind", "return" }, { "exchange", exchange } });
        Tell(nameof(IBrokerObserver.ReturnFailed), (virtualHost, exchange, routingKey, exception), static (o, a) => o.ReturnFailed(a.virtualHost, a.exchange, a.routingKey, a.exception));
    }

    internal void DeadLetterKept(string virtualHost, string queue, string reason, string why)
    {
        Count(DeadLettersKept, new TagList { { "vhost", virtualHost }, { "queue", queue }, { "reason", reason } });
        Tell(nameof(IBrokerObserver.DeadLetterKept), (virtualHost, queue, reason, why), static (o, a) => o.DeadLetterKept(a.virtualHost, a.queue, a.reason, a.why));
    }

    internal void DelayedReleaseRefused(string virtualHost, string exchange, string routingKey)
    {
        Count(DelayedRefused, new TagList { { "vhost", virtualHost }, { "exchange", exchange } });
        Tell(nameof(IBrokerObserver.DelayedReleaseRefused), (virtualHost, exchange, routingKey), static (o, a) => o.DelayedReleaseRefused(a.virtualHost, a.exchange, a.routingKey));
    }

    // A MeterListener's callback runs inside Add, so a listener that throws would throw here.
    private static void Count(Counter<long> counter, in TagList tags)
    {
        try
        {
            counter.Add(1, tags);
        }
#pragma warning disable CA1031 // Whatever a listener throws, the broker path that counted must go on.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            Contained(counter.Name, ex);
        }
    }

    private void Tell<TReport>(string callback, TReport report, Action<IBrokerObserver, TReport> call)
    {
        if (Observer is not { } observer)
        {
            return;
        }

        try
        {
            call(observer, report);
        }
#pragma warning disable CA1031 // Whatever the host's observer throws (a failing log provider), the broker path that reported must go on.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            Contained(callback, ex);
        }
    }

    /// <summary>
    /// Makes a failed report visible where it cannot fail the broker in turn: a counter (an operator's alert sees the
    /// log has gone quiet for a reason) and a trace line with the exception (syslog on Linux, a debugger, or a trace
    /// listener the host added). Neither calls the observer, so nothing here can come back round.
    /// </summary>
    private static void Contained(string callback, Exception exception)
    {
        try
        {
            ObserverFailures.Add(1, new KeyValuePair<string, object?>("callback", callback), new KeyValuePair<string, object?>("error.type", exception.GetType().FullName));
        }
#pragma warning disable CA1031 // A listener that throws on this counter too: there is nowhere left to count it.
        catch (Exception)
#pragma warning restore CA1031
        {
        }

        try
        {
            Trace.TraceError($"Holdfast: a report to the broker's observer ({callback}) threw, and the broker went on without it: {exception}");
        }
#pragma warning disable CA1031 // A trace listener that throws: the counter above has it.
        catch (Exception)
#pragma warning restore CA1031
        {
        }
    }
}
