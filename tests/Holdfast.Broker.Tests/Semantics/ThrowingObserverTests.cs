using System.Diagnostics.Metrics;
using Holdfast.Broker.Monitoring;
using Holdfast.Broker.Routing;
using Holdfast.Broker.Topology;
using Holdfast.Storage;
using Holdfast.Testing;

namespace Holdfast.Broker.Tests.Semantics;

/// <summary>
/// The host's observer logs, and a logger can throw (Microsoft.Extensions.Logging rethrows what a failing provider
/// threw). The observer is told from the middle of broker paths, and its exception used to go on from there: a delivery
/// the door could not send was taken from its queue and never put back, nor its channel failed; a batch of dead letters
/// stopped after the first that found no home, the rest left nowhere; a restore stopped the broker starting. A meter
/// listener that throws did the same from inside the counter. Now the broker goes on as if the report had been made,
/// and counts it as holdfast.observer.failures.
/// </summary>
public sealed class ThrowingObserverTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task A_delivery_failure_the_observer_throws_on_still_puts_the_message_back_and_fails_the_channel()
    {
        using var meter = new MeterRecorder("holdfast.observer.failures", "error.type", typeof(ObserverFault).FullName!);
        await using var harness = await BrokerHarness.StartAsync();
        harness.Broker.Events.Observer = new ThrowingObserver();
        await harness.DeclareQueueAsync("q");
        var queue = harness.Vhost.FindQueue("q")!;
        var (broken, brokenEvents) = harness.OpenChannel(1);
        var refusal = new BrokerException(BrokerErrorKind.PreconditionFailed, "does not fit this consumer's frame-max");
        brokenEvents.Unsendable = _ => refusal;
        broken.Consume("q", "broken", noAck: false, exclusive: false, _ => { });
        var (publisher, publisherEvents) = harness.OpenChannel(2);
        publisher.SelectConfirms();

        // The queue offers it to the broken consumer from inside this publish, which must not hear of it; the state is
        // looked at first, for the escaped exception used to leave the message in no queue and the channel open.
        var escaped = Record.Exception(() => publisher.Publish(BrokerHarness.Message("", "q", "precious"), mandatory: false));

        Assert.Equal(1, queue.ReadyCount);
        Assert.Equal(0, queue.UnackedCount);
        Assert.Same(refusal, Assert.Single(brokenEvents.Failures));
        Assert.Empty(brokenEvents.Deliveries);
        Assert.Null(escaped);
        Assert.Equal(1, meter.Total);
        Assert.Equal(nameof(IBrokerObserver.DeliveryFailed), meter.Tag("callback"));
        await Eventually.TrueAsync(() => publisherEvents.Acked(1), Wait, "the publish confirmed");

        // The door closes the failed channel; another consumer gets the message, whole and in its place.
        broken.Close();
        var (healthy, healthyEvents) = harness.OpenChannel(3);
        healthy.Consume("q", "healthy", noAck: false, exclusive: false, _ => { });
        var delivery = Assert.Single(healthyEvents.Deliveries);
        Assert.Equal("precious", System.Text.Encoding.UTF8.GetString(delivery.Message.Body.Span));
        Assert.False(delivery.Redelivered);
        healthy.Ack(delivery.DeliveryTag, multiple: false);
        Assert.Equal(0, queue.ReadyCount);
        Assert.Equal(0, queue.UnackedCount);
    }

    [Fact]
    public async Task Dead_letters_with_no_home_are_all_kept_when_the_observer_throws_on_the_first()
    {
        using var meter = new MeterRecorder("holdfast.observer.failures", "error.type", typeof(ObserverFault).FullName!);
        await using var harness = await BrokerHarness.StartAsync();
        harness.Broker.Events.Observer = new ThrowingObserver();
        await harness.Vhost.DeclareExchangeAsync(new ExchangeDefinition("nowhere", ExchangeKind.Fanout, true, false, false, TopologyArguments.Empty), passive: false);
        await harness.DeclareQueueAsync("source", true, ("x-message-ttl", 100), ("x-dead-letter-exchange", "nowhere"));
        var source = harness.Vhost.FindQueue("source")!;
        var (channel, _) = harness.OpenChannel();
        channel.Publish(BrokerHarness.Message("", "source", "first"), mandatory: false);
        channel.Publish(BrokerHarness.Message("", "source", "second"), mandatory: false);

        // Both expire together and are dead-lettered as one batch, each reported as it is kept.
        harness.Clock.Advance(TimeSpan.FromMilliseconds(200));
        await Eventually.TrueAsync(() => source.DeadLetterFailures == 2, Wait, "both dead letters kept in their queue");
        Assert.Equal(2, source.UndeliverableCount);
        Assert.Equal(2, meter.Total);
        Assert.Equal(nameof(IBrokerObserver.DeadLetterKept), meter.Tag("callback"));

        // Once there is a home, the retry moves both.
        await harness.DeclareQueueAsync("home");
        await harness.Vhost.BindQueueAsync("home", "nowhere", "", TopologyArguments.Empty, 1);
        harness.Clock.Advance(TimeSpan.FromSeconds(6));
        var home = harness.Vhost.FindQueue("home")!;
        await Eventually.TrueAsync(() => home.ReadyCount == 2 && source.UndeliverableCount == 0, Wait, "both dead letters moved on the retry");
        Assert.Equal("first", System.Text.Encoding.UTF8.GetString(channel.Get("home", noAck: true)!.Message.Body.Span));
        Assert.Equal("second", System.Text.Encoding.UTF8.GetString(channel.Get("home", noAck: true)!.Message.Body.Span));
    }

    [Fact]
    public async Task A_queue_restored_without_an_argument_comes_back_when_the_observer_throws_on_the_report()
    {
        using var meter = new MeterRecorder("holdfast.observer.failures", "error.type", typeof(ObserverFault).FullName!);
        await using var harness = await BrokerHarness.StartAsync();
        await harness.DeclareQueueAsync("legacy");
        var (channel, _) = harness.OpenChannel();
        channel.Publish(BrokerHarness.Message("", "legacy", "kept"), mandatory: true);

        // What a version that accepted a 256-byte dead-letter routing key would have written down.
        var stored = new QueueDefinition("legacy", true, false, false, new Dictionary<string, object?>
        {
            ["x-dead-letter-exchange"] = "dlx",
            ["x-dead-letter-routing-key"] = new string('k', 256),
        });
        await harness.Store.PutMetadataAsync(TopologyFormat.QueueKey("/", "legacy"), TopologyFormat.Encode(stored), FlushPolicy.Sync);
        harness.Observer = new ThrowingObserver();

        await harness.RestartAsync();

        var queue = harness.Vhost.FindQueue("legacy")!;
        Assert.Equal(1, queue.ReadyCount);
        Assert.Null(queue.Settings.DeadLetterRoutingKey);
        Assert.Equal(1, meter.Total);
        Assert.Equal(nameof(IBrokerObserver.ArgumentsIgnored), meter.Tag("callback"));
    }

    [Fact]
    public async Task A_get_or_return_the_door_refused_ends_with_that_refusal_when_the_observer_throws_on_it()
    {
        await using var harness = await BrokerHarness.StartAsync();
        harness.Broker.Events.Observer = new ThrowingObserver();
        await harness.DeclareQueueAsync("q");
        var (channel, events) = harness.OpenChannel();
        channel.Publish(BrokerHarness.Message("", "q", "kept"), mandatory: false);
        var refusal = new BrokerException(BrokerErrorKind.PreconditionFailed, "does not fit");

        Assert.Same(refusal, Assert.Throws<BrokerException>(() => channel.Get("q", noAck: true, _ => throw refusal)));
        Assert.Equal(1, harness.Vhost.FindQueue("q")!.ReadyCount);

        channel.SelectConfirms();
        events.Unreturnable = _ => refusal;
        Assert.Same(refusal, Assert.Throws<BrokerException>(() => channel.Publish(BrokerHarness.Message("", "nobody", "unreturnable"), mandatory: true)));
        Assert.Empty(events.Confirms);
    }

    [Fact]
    public async Task A_meter_listener_that_throws_on_the_failed_delivery_count_does_not_stop_the_message_going_back()
    {
        var queueName = "listened-" + Guid.NewGuid().ToString("N");
        using var meter = new MeterRecorder("holdfast.observer.failures", "callback", "holdfast.deliveries.failed");

        // A listener's callback runs inside Counter.Add; this one throws, for this test's queue only.
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == BrokerEvents.MeterName && instrument.Name == "holdfast.deliveries.failed")
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((_, _, tags, _) =>
        {
            foreach (var tag in tags)
            {
                if (tag.Key == "queue" && Equals(tag.Value, queueName))
                {
                    throw new ObserverFault("a meter listener");
                }
            }
        });
        listener.Start();

        await using var harness = await BrokerHarness.StartAsync();
        await harness.DeclareQueueAsync(queueName);
        var queue = harness.Vhost.FindQueue(queueName)!;
        var (broken, brokenEvents) = harness.OpenChannel(1);
        brokenEvents.Unsendable = _ => new BrokerException(BrokerErrorKind.PreconditionFailed, "does not fit");
        broken.Consume(queueName, "broken", noAck: false, exclusive: false, _ => { });
        var (publisher, _) = harness.OpenChannel(2);

        var escaped = Record.Exception(() => publisher.Publish(BrokerHarness.Message("", queueName, "precious"), mandatory: false));

        Assert.Equal(1, queue.ReadyCount);
        Assert.Single(brokenEvents.Failures);
        Assert.Null(escaped);
        Assert.Equal(1, meter.Total);
    }

    private sealed class ObserverFault(string callback) : Exception($"the log provider failed in {callback}");

    private sealed class ThrowingObserver : IBrokerObserver
    {
        public void DeadLetterKept(string virtualHost, string queue, string reason, string why) => throw new ObserverFault(nameof(DeadLetterKept));

        public void DelayedReleaseRefused(string virtualHost, string exchange, string routingKey) => throw new ObserverFault(nameof(DelayedReleaseRefused));

        public void DeliveryFailed(string virtualHost, string queue, string consumerTag, Exception exception) => throw new ObserverFault(nameof(DeliveryFailed));

        public void GetFailed(string virtualHost, string queue, Exception exception) => throw new ObserverFault(nameof(GetFailed));

        public void ReturnFailed(string virtualHost, string exchange, string routingKey, Exception exception) => throw new ObserverFault(nameof(ReturnFailed));

        public void ArgumentsIgnored(string virtualHost, string queue, string why) => throw new ObserverFault(nameof(ArgumentsIgnored));
    }
}
