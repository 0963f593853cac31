using System.Collections.Concurrent;
using Holdfast.Broker.Messages;
using Holdfast.Broker.Monitoring;
using Holdfast.Broker.Routing;
using Holdfast.Broker.Topology;
using Holdfast.Testing;

namespace Holdfast.Broker.Tests.Semantics;

/// <summary>A message the broker keeps instead of losing (a dead letter with no home, a refused delayed release) is counted on the meter and reported to the host.</summary>
public sealed class KeptMessageReportingTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task A_dead_letter_with_no_home_is_counted_and_reported_with_its_queue_and_reason()
    {
        var queue = "kept-" + Guid.NewGuid().ToString("N");
        using var meter = new MeterRecorder("holdfast.dead_letters.kept", "queue", queue);
        await using var harness = await BrokerHarness.StartAsync();
        var observer = new RecordingObserver();
        harness.Broker.Events.Observer = observer;
        await harness.Vhost.DeclareExchangeAsync(new ExchangeDefinition("nowhere", ExchangeKind.Fanout, true, false, false, TopologyArguments.Empty), passive: false);
        await harness.DeclareQueueAsync(queue, true, ("x-message-ttl", 100), ("x-dead-letter-exchange", "nowhere"));
        var (channel, _) = harness.OpenChannel();
        channel.Publish(BrokerHarness.Message("", queue, "precious"), mandatory: true);

        harness.Clock.Advance(TimeSpan.FromMilliseconds(200));
        await Eventually.TrueAsync(() => meter.Total == 1, Wait, "the kept dead letter counted");
        var report = Assert.Single(observer.DeadLetters);
        Assert.Equal(("/", queue, "expired"), (report.VirtualHost, report.Queue, report.Reason));
        Assert.Contains("routed it nowhere", report.Why, StringComparison.Ordinal);
        Assert.Equal("expired", meter.Tag("reason"));

        harness.Clock.Advance(TimeSpan.FromSeconds(6));
        await Eventually.TrueAsync(() => meter.Total == 2, Wait, "the retry that failed again counted too");
    }

    [Fact]
    public async Task A_delayed_release_refused_by_a_full_queue_is_counted_and_reported()
    {
        var exchange = "later-" + Guid.NewGuid().ToString("N");
        using var meter = new MeterRecorder("holdfast.delayed.releases_refused", "exchange", exchange);
        await using var harness = await BrokerHarness.StartAsync();
        var observer = new RecordingObserver();
        harness.Broker.Events.Observer = observer;
        await harness.Vhost.DeclareExchangeAsync(new ExchangeDefinition(exchange, ExchangeKind.Direct, true, false, false, TopologyArguments.Empty), passive: false);
        await harness.DeclareQueueAsync("tight", true, ("x-max-length", 0), ("x-overflow", "reject-publish"));
        await harness.Vhost.BindQueueAsync("tight", exchange, "k", TopologyArguments.Empty, 1);
        var (channel, _) = harness.OpenChannel();
        channel.Publish(BrokerHarness.Message(exchange, "k", "wait", headers: new MessageHeaders([new("x-delay", 1000L)])), mandatory: true);
        await Eventually.TrueAsync(() => harness.Vhost.DelayedCount == 1, Wait, "the message held");

        harness.Clock.Advance(TimeSpan.FromMilliseconds(1001));
        await Eventually.TrueAsync(() => meter.Total == 1, Wait, "the refused release counted");
        Assert.Equal(("/", exchange, "k"), Assert.Single(observer.Delayed));
    }

    private sealed class RecordingObserver : IBrokerObserver
    {
        public ConcurrentQueue<(string VirtualHost, string Queue, string Reason, string Why)> DeadLetters { get; } = new();

        public ConcurrentQueue<(string VirtualHost, string Exchange, string RoutingKey)> Delayed { get; } = new();

        public void DeadLetterKept(string virtualHost, string queue, string reason, string why) => DeadLetters.Enqueue((virtualHost, queue, reason, why));

        public void DelayedReleaseRefused(string virtualHost, string exchange, string routingKey) => Delayed.Enqueue((virtualHost, exchange, routingKey));

        public void DeliveryFailed(string virtualHost, string queue, string consumerTag, Exception exception)
        {
        }

        public void GetFailed(string virtualHost, string queue, Exception exception)
        {
        }

        public void ReturnFailed(string virtualHost, string exchange, string routingKey, Exception exception)
        {
        }

        public void ArgumentsIgnored(string virtualHost, string queue, string why)
        {
        }
    }
}
