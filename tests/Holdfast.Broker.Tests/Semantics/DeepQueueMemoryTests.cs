using System.Text;
using Holdfast.Broker.Queues;
using Holdfast.Testing;

namespace Holdfast.Broker.Tests.Semantics;

/// <summary>
/// A deep durable queue keeps only its head's bodies in memory: the rest are read back from the
/// store when they near delivery. Nothing changes for a client: every message arrives, in order, whole,
/// and byte limits still count every message at its size.
/// </summary>
public sealed class DeepQueueMemoryTests
{
    private const int BodyBytes = 1000;
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task Bodies_behind_the_head_leave_memory_once_written_and_come_back_in_order_when_consumed()
    {
        await using var harness = await BrokerHarness.StartAsync();
        await harness.DeclareQueueAsync("deep");
        var (channel, events) = harness.OpenChannel();
        channel.SelectConfirms();
        const int count = MessageQueue.ResidentReadyMessages * 3;
        for (var i = 0; i < count; i++)
        {
            channel.Publish(BrokerHarness.Message("", "deep", Body(i)), mandatory: true);
        }

        await Eventually.TrueAsync(() => Confirmed(events) == count, Wait, "every publish confirmed");
        channel.Publish(BrokerHarness.Message("", "deep", Body(count)), mandatory: true); // a last one sweeps what the others left

        // About the head's worth of bodies stay (plus the ones whose writes were still in flight at the last sweep).
        var held = harness.Broker.Memory.HeldBytes;
        Assert.InRange(held, (MessageQueue.ResidentReadyMessages - 1) * (long)BodyBytes, (count / 2) * (long)BodyBytes);

        for (var i = 0; i <= count; i++)
        {
            var got = channel.Get("deep", noAck: true);
            Assert.NotNull(got);
            Assert.Equal(Body(i), Encoding.UTF8.GetString(got.Message.Body.Span));
        }

        Assert.Null(channel.Get("deep", noAck: true));
        Assert.Equal(0, harness.Broker.Memory.HeldBytes);
    }

    [Fact]
    public async Task A_byte_limit_counts_a_released_message_at_its_full_size()
    {
        await using var harness = await BrokerHarness.StartAsync();
        const int limitMessages = MessageQueue.ResidentReadyMessages * 2;
        await harness.DeclareQueueAsync("bounded", true, ("x-max-length-bytes", limitMessages * (long)BodyBytes));
        var (channel, events) = harness.OpenChannel();
        channel.SelectConfirms();
        for (var i = 0; i < limitMessages + 100; i++)
        {
            channel.Publish(BrokerHarness.Message("", "bounded", Body(i)), mandatory: true);
        }

        await Eventually.TrueAsync(() => Confirmed(events) == limitMessages + 100, Wait, "every publish confirmed");
        var queue = harness.Vhost.FindQueue("bounded")!;
        Assert.Equal(limitMessages, queue.ReadyCount);

        // Taking released messages out (the head's resident ones and well beyond) must free their full
        // size: the limit then admits exactly as many again, dropping nothing more from the head.
        const int taken = MessageQueue.ResidentReadyMessages + 500;
        for (var i = 0; i < taken; i++)
        {
            Assert.NotNull(channel.Get("bounded", noAck: true));
        }

        for (var i = 0; i < taken; i++)
        {
            channel.Publish(BrokerHarness.Message("", "bounded", Body(100_000 + i)), mandatory: true);
        }

        await Eventually.TrueAsync(() => Confirmed(events) == limitMessages + 100 + taken, Wait, "the refills confirmed");
        Assert.Equal(limitMessages, queue.ReadyCount);
        Assert.Equal(Body(100 + taken), Encoding.UTF8.GetString(channel.Get("bounded", noAck: true)!.Message.Body.Span));
    }

    [Fact]
    public async Task A_delivered_stored_message_leaves_memory_and_comes_back_whole_when_requeued_or_dead_lettered()
    {
        await using var harness = await BrokerHarness.StartAsync();
        await harness.DeclareQueueAsync("dead");
        await harness.DeclareQueueAsync("work", true, ("x-dead-letter-exchange", ""), ("x-dead-letter-routing-key", "dead"));
        var (publisher, published) = harness.OpenChannel();
        publisher.SelectConfirms();
        const int count = 100;
        for (var i = 0; i < count; i++)
        {
            publisher.Publish(BrokerHarness.Message("", "work", Body(i)), mandatory: true);
        }

        await Eventually.TrueAsync(() => Confirmed(published) == count, Wait, "every publish confirmed");
        var (consumer, received) = harness.OpenChannel(connectionId: 2);
        consumer.SetPrefetch(0, count, global: false);
        consumer.Consume("work", "c", noAck: false, exclusive: false, _ => { });
        await Eventually.TrueAsync(() => received.Deliveries.Count == count, Wait, "every message delivered");
        var first = received.Deliveries.ToArray();
        Assert.Equal(Enumerable.Range(0, count).Select(Body), first.Select(d => Encoding.UTF8.GetString(d.Message.Body.Span)));

        // Sent and written: the store has every body, so memory holds none of them while they wait for acks.
        Assert.Equal(0, harness.Broker.Memory.HeldBytes);

        // The first half goes back to the queue and out again; its bodies are read back from the store.
        for (var i = 0; i < count / 2; i++)
        {
            consumer.Reject(first[i].DeliveryTag, multiple: false, requeue: true);
        }

        await Eventually.TrueAsync(() => received.Deliveries.Count == count + (count / 2), Wait, "the requeued half redelivered");
        var again = received.Deliveries.Skip(count).ToArray();
        Assert.All(again, d => Assert.True(d.Redelivered));
        Assert.Equal(Enumerable.Range(0, count / 2).Select(Body), again.Select(d => Encoding.UTF8.GetString(d.Message.Body.Span)));

        // The second half is rejected for good and dead-lettered with its body.
        for (var i = count / 2; i < count; i++)
        {
            consumer.Reject(first[i].DeliveryTag, multiple: false, requeue: false);
        }

        var dead = harness.Vhost.FindQueue("dead")!;
        await Eventually.TrueAsync(() => dead.ReadyCount == count / 2, Wait, "the rejected half dead-lettered");
        // Each reject dead-letters on its own, so the arrivals may interleave: the set is what counts.
        var deadBodies = new List<string>();
        for (var i = count / 2; i < count; i++)
        {
            deadBodies.Add(Encoding.UTF8.GetString(publisher.Get("dead", noAck: true)!.Message.Body.Span));
        }

        Assert.Equal(Enumerable.Range(count / 2, count / 2).Select(Body), deadBodies.Order(StringComparer.Ordinal));

        consumer.Ack(again[^1].DeliveryTag, multiple: true);
        Assert.Equal(0, harness.Vhost.FindQueue("work")!.ReadyCount);
        Assert.Equal(0, harness.Broker.Memory.HeldBytes);
    }

    /// <summary>Confirms arrive in order (runs as "multiple"), so the highest acked sequence number is the count confirmed.</summary>
    private static long Confirmed(RecordingEvents events) => events.Confirms.Where(c => c.Ack).Select(c => (long)c.Sequence).DefaultIfEmpty(0L).Max();

    /// <summary>A body of exactly <see cref="BodyBytes"/> bytes that names its message.</summary>
    private static string Body(int i) => $"m{i:D7}-".PadRight(BodyBytes, 'x');
}
