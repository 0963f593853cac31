using System.Collections.Concurrent;
using Holdfast.Broker.Monitoring;
using Holdfast.Broker.Routing;
using Holdfast.Broker.Topology;

namespace Holdfast.Broker.Tests.Semantics;

/// <summary>
/// A basic.get answer or a basic.return the door cannot send is reported to the host and counted, as an unsendable
/// delivery is: the observer hears of it (GetFailed, ReturnFailed) and holdfast.deliveries.failed counts it under its
/// kind. They used to reach only the client, as a closed channel, and the operator never knew.
/// </summary>
public sealed class UnsendableGetAndReturnTests
{
    [Fact]
    public async Task A_get_answer_the_door_cannot_send_is_reported_and_counted_and_the_message_stays()
    {
        var queue = "get-" + Guid.NewGuid().ToString("N");
        using var meter = new MeterRecorder("holdfast.deliveries.failed", "queue", queue);
        await using var harness = await BrokerHarness.StartAsync();
        var observer = new FailureObserver();
        harness.Broker.Events.Observer = observer;
        await harness.DeclareQueueAsync(queue);
        var (channel, _) = harness.OpenChannel();
        channel.Publish(BrokerHarness.Message("", queue, "kept"), mandatory: false);

        var refusal = new BrokerException(BrokerErrorKind.PreconditionFailed, "does not fit");
        var thrown = Assert.Throws<BrokerException>(() => channel.Get(queue, noAck: true, _ => throw refusal));

        Assert.Same(refusal, thrown);
        var report = Assert.Single(observer.Gets);
        Assert.Equal(("/", queue), (report.VirtualHost, report.Queue));
        Assert.Same(refusal, report.Exception);
        Assert.Equal(1, meter.Total);
        Assert.Equal("get", meter.Tag("kind"));
        Assert.Equal(1, harness.Vhost.FindQueue(queue)!.ReadyCount);
    }

    [Fact]
    public async Task A_return_the_door_cannot_send_is_reported_and_counted_and_the_message_is_not_confirmed()
    {
        var exchange = "return-" + Guid.NewGuid().ToString("N");
        using var meter = new MeterRecorder("holdfast.deliveries.failed", "exchange", exchange);
        await using var harness = await BrokerHarness.StartAsync();
        var observer = new FailureObserver();
        harness.Broker.Events.Observer = observer;
        await harness.Vhost.DeclareExchangeAsync(new ExchangeDefinition(exchange, ExchangeKind.Direct, false, false, false, TopologyArguments.Empty), passive: false);
        var (channel, events) = harness.OpenChannel();
        channel.SelectConfirms();
        var refusal = new BrokerException(BrokerErrorKind.PreconditionFailed, "does not fit");
        events.Unreturnable = _ => refusal;

        var thrown = Assert.Throws<BrokerException>(() => channel.Publish(BrokerHarness.Message(exchange, "nowhere", "lost?"), mandatory: true));

        Assert.Same(refusal, thrown);
        var report = Assert.Single(observer.Returns);
        Assert.Equal(("/", exchange, "nowhere"), (report.VirtualHost, report.Exchange, report.RoutingKey));
        Assert.Same(refusal, report.Exception);
        Assert.Equal(1, meter.Total);
        Assert.Equal("return", meter.Tag("kind"));
        Assert.Empty(events.Confirms);
    }

    private sealed class FailureObserver : IBrokerObserver
    {
        public ConcurrentQueue<(string VirtualHost, string Queue, Exception Exception)> Gets { get; } = new();

        public ConcurrentQueue<(string VirtualHost, string Exchange, string RoutingKey, Exception Exception)> Returns { get; } = new();

        public void GetFailed(string virtualHost, string queue, Exception exception) => Gets.Enqueue((virtualHost, queue, exception));

        public void ReturnFailed(string virtualHost, string exchange, string routingKey, Exception exception) => Returns.Enqueue((virtualHost, exchange, routingKey, exception));

        public void DeliveryFailed(string virtualHost, string queue, string consumerTag, Exception exception)
        {
        }

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
}
