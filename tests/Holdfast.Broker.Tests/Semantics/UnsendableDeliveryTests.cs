using System.Collections.Concurrent;
using Holdfast.Broker.Monitoring;

namespace Holdfast.Broker.Tests.Semantics;

/// <summary>
/// A delivery the door cannot send (it throws from <c>Deliver</c>) used to be tracked as unacked before the door was
/// called, and the throw went up through whoever was dispatching, often a publisher on another connection. Now it is
/// not tracked, the message keeps its place in the queue, the other consumers go on, the host hears of it, and the
/// door is told to close that channel.
/// </summary>
public sealed class UnsendableDeliveryTests
{
    [Fact]
    public async Task An_unsendable_delivery_stays_in_the_queue_for_another_consumer_and_fails_only_its_channel()
    {
        await using var harness = await BrokerHarness.StartAsync();
        var observer = new FailureObserver();
        harness.Broker.Events.Observer = observer;
        await harness.DeclareQueueAsync("q");
        var queue = harness.Vhost.FindQueue("q")!;

        var (broken, brokenEvents) = harness.OpenChannel(1);
        brokenEvents.Unsendable = d => d.Message.RoutingKey == "q" ? new InvalidOperationException("cannot encode") : null;
        broken.Consume("q", "broken", noAck: false, exclusive: false, _ => { });
        var (healthy, healthyEvents) = harness.OpenChannel(2);
        healthy.Consume("q", "healthy", noAck: false, exclusive: false, _ => { });
        var (publisher, _) = harness.OpenChannel(3);

        // Round-robin offers each new message to the broken consumer in turn: the publisher never hears of it.
        for (var i = 0; i < 4; i++)
        {
            publisher.Publish(BrokerHarness.Message("", "q", $"m{i}"), mandatory: false);
        }

        Assert.Empty(brokenEvents.Deliveries);
        Assert.Equal(0, broken.UnackedCount);
        var failure = Assert.Single(brokenEvents.Failures);
        Assert.Equal(BrokerErrorKind.InternalError, failure.Kind);
        Assert.Contains("consumer 'broken'", failure.Message, StringComparison.Ordinal);
        var report = Assert.Single(observer.Failures);
        Assert.Equal(("/", "q", "broken"), (report.VirtualHost, report.Queue, report.ConsumerTag));
        Assert.IsType<InvalidOperationException>(report.Exception);

        // Every message reached the healthy consumer, in order, none marked redelivered, tags without a gap.
        Assert.Equal(["m0", "m1", "m2", "m3"], healthyEvents.Deliveries.Select(d => System.Text.Encoding.UTF8.GetString(d.Message.Body.Span)));
        Assert.All(healthyEvents.Deliveries, d => Assert.False(d.Redelivered));
        Assert.Equal([1ul, 2, 3, 4], healthyEvents.Deliveries.Select(d => d.DeliveryTag));
        Assert.Equal(4, queue.UnackedCount);
        Assert.Equal(0, queue.ReadyCount);

        // When the door closes the failed channel, nothing of it is left behind.
        broken.Close();
        healthy.Ack(4, multiple: true);
        Assert.Equal(0, queue.UnackedCount);
        Assert.Equal(1, queue.ConsumerCount);
    }

    [Fact]
    public async Task With_no_other_consumer_the_message_waits_in_its_place_until_one_comes()
    {
        await using var harness = await BrokerHarness.StartAsync();
        await harness.DeclareQueueAsync("q");
        var queue = harness.Vhost.FindQueue("q")!;
        var (publisher, _) = harness.OpenChannel(3);
        publisher.Publish(BrokerHarness.Message("", "q", "first"), mandatory: false);
        publisher.Publish(BrokerHarness.Message("", "q", "second"), mandatory: false);

        var (broken, brokenEvents) = harness.OpenChannel(1);
        brokenEvents.Unsendable = d => new ArgumentException("too long");
        broken.Consume("q", "broken", noAck: true, exclusive: false, _ => { });

        Assert.Single(brokenEvents.Failures);
        Assert.Equal(2, queue.ReadyCount);
        broken.Close();

        var (late, lateEvents) = harness.OpenChannel(2);
        late.Consume("q", "late", noAck: false, exclusive: false, _ => { });
        Assert.Equal(["first", "second"], lateEvents.Deliveries.Select(d => System.Text.Encoding.UTF8.GetString(d.Message.Body.Span)));
        Assert.All(lateEvents.Deliveries, d => Assert.False(d.Redelivered));
    }

    private sealed class FailureObserver : IBrokerObserver
    {
        public ConcurrentQueue<(string VirtualHost, string Queue, string ConsumerTag, Exception Exception)> Failures { get; } = new();

        public void DeadLetterKept(string virtualHost, string queue, string reason, string why)
        {
        }

        public void DelayedReleaseRefused(string virtualHost, string exchange, string routingKey)
        {
        }

        public void DeliveryFailed(string virtualHost, string queue, string consumerTag, Exception exception) => Failures.Enqueue((virtualHost, queue, consumerTag, exception));

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
