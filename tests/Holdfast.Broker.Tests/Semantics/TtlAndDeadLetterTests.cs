using Holdfast.Broker.Messages;
using Holdfast.Broker.Routing;
using Holdfast.Broker.Topology;
using Holdfast.Testing;

namespace Holdfast.Broker.Tests.Semantics;

/// <summary>Message TTL, dead-lettering (at-least-once by default) with RabbitMQ's x-death headers, and delivery limits.</summary>
public sealed class TtlAndDeadLetterTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task A_queue_ttl_expires_messages_with_no_consumer_on_time_and_dead_letters_them_with_x_death()
    {
        await using var harness = await BrokerHarness.StartAsync();
        var dlq = await WithDeadLetterQueueAsync(harness);
        await harness.DeclareQueueAsync("work", true, ("x-message-ttl", 1000), ("x-dead-letter-exchange", "dlx"));
        var (channel, _) = harness.OpenChannel();
        channel.Publish(BrokerHarness.Message("", "work", "late"), mandatory: true);
        var work = harness.Vhost.FindQueue("work")!;

        harness.Clock.Advance(TimeSpan.FromMilliseconds(999));
        Assert.Equal(1, work.ReadyCount);

        harness.Clock.Advance(TimeSpan.FromMilliseconds(5));
        await Eventually.TrueAsync(() => dlq.ReadyCount == 1, Wait, "the expired message in the dead-letter queue");
        Assert.Equal(0, work.ReadyCount);

        var got = channel.Get("dlq", noAck: true)!;
        Assert.Equal("late", System.Text.Encoding.UTF8.GetString(got.Message.Body.Span));
        Assert.Equal("dlx", got.Message.Exchange);
        var death = Death(got.Message, 0);
        Assert.Equal(1L, death["count"]);
        Assert.Equal("expired", death["reason"]!.ToString());
        Assert.Equal("work", death["queue"]!.ToString());
        Assert.Equal(string.Empty, death["exchange"]!.ToString());
        Assert.Equal(["work"], ((IReadOnlyList<object?>)death["routing-keys"]!).Select(k => k!.ToString()));
        Assert.Equal((ulong)harness.Clock.GetUtcNow().ToUnixTimeSeconds(), ((TimestampValue)death["time"]!).UnixSeconds);
        Assert.Equal("expired", Header(got.Message, "x-first-death-reason"));
        Assert.Equal("work", Header(got.Message, "x-first-death-queue"));
    }

    [Fact]
    public async Task A_per_message_expiration_applies_at_the_head_and_is_removed_when_dead_lettered()
    {
        await using var harness = await BrokerHarness.StartAsync();
        var dlq = await WithDeadLetterQueueAsync(harness);
        await harness.DeclareQueueAsync("work", true, ("x-dead-letter-exchange", "dlx"));
        var (channel, _) = harness.OpenChannel();
        channel.Publish(BrokerHarness.Message("", "work", "slow", expiration: "10000"), mandatory: true);
        channel.Publish(BrokerHarness.Message("", "work", "fast", expiration: "100"), mandatory: true);

        // "fast" is past its time, but behind "slow": RabbitMQ expires at the head only.
        harness.Clock.Advance(TimeSpan.FromMilliseconds(500));
        Assert.Equal(2, harness.Vhost.FindQueue("work")!.ReadyCount);

        harness.Clock.Advance(TimeSpan.FromSeconds(10));
        await Eventually.TrueAsync(() => dlq.ReadyCount == 2, Wait, "both expired messages dead-lettered");
        var first = channel.Get("dlq", noAck: true)!.Message;
        Assert.Equal("slow", System.Text.Encoding.UTF8.GetString(first.Body.Span));
        Assert.Null(first.Properties.Expiration);
        Assert.Equal("10000", Death(first, 0)["original-expiration"]!.ToString());
    }

    [Fact]
    public async Task A_ttl_of_zero_delivers_to_a_waiting_consumer_and_expires_otherwise()
    {
        await using var harness = await BrokerHarness.StartAsync();
        await harness.DeclareQueueAsync("now-or-never", true, ("x-message-ttl", 0));
        var (channel, events) = harness.OpenChannel();

        channel.Publish(BrokerHarness.Message("", "now-or-never", "nobody there"), mandatory: true);
        Assert.Equal(0, harness.Vhost.FindQueue("now-or-never")!.ReadyCount);

        channel.Consume("now-or-never", "c", noAck: true, exclusive: false, _ => { });
        channel.Publish(BrokerHarness.Message("", "now-or-never", "taken"), mandatory: true);
        Assert.Equal(["taken"], events.Deliveries.Select(d => System.Text.Encoding.UTF8.GetString(d.Message.Body.Span)));
    }

    [Fact]
    public async Task A_ttl_of_zero_reaches_a_waiting_consumer_even_when_the_clock_ticks_between_arrival_and_dispatch()
    {
        await using var harness = await BrokerHarness.StartAsync();
        await harness.DeclareQueueAsync("now-or-never", true, ("x-message-ttl", 0));
        var (channel, events) = harness.OpenChannel();
        channel.Consume("now-or-never", "c", noAck: true, exclusive: false, _ => { });

        // Every reading of the clock is a millisecond later: the dispatch always happens after the arrival's millisecond.
        harness.Clock.AutoAdvanceAmount = TimeSpan.FromMilliseconds(1);
        channel.Publish(BrokerHarness.Message("", "now-or-never", "taken"), mandatory: true);

        Assert.Equal(["taken"], events.Deliveries.Select(d => System.Text.Encoding.UTF8.GetString(d.Message.Body.Span)));
    }

    [Fact]
    public async Task Rejected_and_overflowing_messages_are_dead_lettered_with_their_reasons()
    {
        await using var harness = await BrokerHarness.StartAsync();
        var dlq = await WithDeadLetterQueueAsync(harness);
        await harness.DeclareQueueAsync("work", true, ("x-dead-letter-exchange", "dlx"), ("x-max-length", 1));
        var (channel, _) = harness.OpenChannel();
        channel.Publish(BrokerHarness.Message("", "work", "first"), mandatory: true);
        channel.Publish(BrokerHarness.Message("", "work", "second"), mandatory: true);
        await Eventually.TrueAsync(() => dlq.ReadyCount == 1, Wait, "the head pushed out by the second message");

        var got = channel.Get("work", noAck: false)!;
        channel.Reject(got.DeliveryTag, multiple: false, requeue: false);
        await Eventually.TrueAsync(() => dlq.ReadyCount == 2, Wait, "the rejected message dead-lettered");

        var reasons = new[] { channel.Get("dlq", noAck: true)!.Message, channel.Get("dlq", noAck: true)!.Message }
            .Select(m => (System.Text.Encoding.UTF8.GetString(m.Body.Span), Death(m, 0)["reason"]!.ToString()));
        Assert.Equal([("first", "maxlen"), ("second", "rejected")], reasons);
    }

    [Fact]
    public async Task A_message_requeued_more_than_the_delivery_limit_is_dead_lettered_and_consumers_see_the_count()
    {
        await using var harness = await BrokerHarness.StartAsync();
        var dlq = await WithDeadLetterQueueAsync(harness);
        await harness.DeclareQueueAsync("work", true, ("x-dead-letter-exchange", "dlx"), ("x-delivery-limit", 2));
        var (channel, _) = harness.OpenChannel();
        channel.Publish(BrokerHarness.Message("", "work", "poison"), mandatory: true);

        var counts = new List<object?>();
        for (var attempt = 0; attempt < 3; attempt++)
        {
            var got = channel.Get("work", noAck: false)!;
            counts.Add(got.Message.Properties.Headers?.TryGetHeader("x-delivery-count", out var count) == true ? count : null);
            channel.Reject(got.DeliveryTag, multiple: false, requeue: true);
        }

        Assert.Equal([null, 1L, 2L], counts);
        await Eventually.TrueAsync(() => dlq.ReadyCount == 1, Wait, "the poison message dead-lettered");
        Assert.Equal("delivery_limit", Death(channel.Get("dlq", noAck: true)!.Message, 0)["reason"]!.ToString());
        Assert.Equal(0, harness.Vhost.FindQueue("work")!.ReadyCount);
    }

    [Fact]
    public async Task A_dead_letter_with_nowhere_to_go_stays_in_its_queue_and_is_delivered_once_a_route_exists()
    {
        await using var harness = await BrokerHarness.StartAsync();
        await harness.Vhost.DeclareExchangeAsync(new ExchangeDefinition("dlx", ExchangeKind.Fanout, true, false, false, TopologyArguments.Empty), passive: false);
        await harness.DeclareQueueAsync("work", true, ("x-message-ttl", 100), ("x-dead-letter-exchange", "dlx"));
        var (channel, _) = harness.OpenChannel();
        channel.Publish(BrokerHarness.Message("", "work", "precious"), mandatory: true);
        var work = harness.Vhost.FindQueue("work")!;

        harness.Clock.Advance(TimeSpan.FromMilliseconds(200));
        await Eventually.TrueAsync(() => work.UndeliverableCount == 1, Wait, "the unroutable dead letter kept");
        Assert.True(work.DeadLetterFailures >= 1);

        // Still in the store (its append is written without waiting, so give it a moment): a restart would not lose it either.
        await Eventually.TrueAsync(() => work.Stored!.MessageCount == 1, Wait, "the kept dead letter still stored");

        await harness.DeclareQueueAsync("dlq");
        await harness.Vhost.BindQueueAsync("dlq", "dlx", "", TopologyArguments.Empty, 1);
        harness.Clock.Advance(TimeSpan.FromSeconds(6));
        var dlq = harness.Vhost.FindQueue("dlq")!;
        await Eventually.TrueAsync(() => dlq.ReadyCount == 1, Wait, "the kept dead letter delivered on retry");
        await Eventually.TrueAsync(() => work.Stored!.MessageCount == 0, Wait, "the source letting go once the target has it");
    }

    [Fact]
    public async Task A_dead_letter_one_of_its_targets_refuses_goes_nowhere_stays_in_its_queue_and_moves_whole_once_there_is_room()
    {
        await using var harness = await BrokerHarness.StartAsync();
        await harness.Vhost.DeclareExchangeAsync(new ExchangeDefinition("dlx", ExchangeKind.Fanout, true, false, false, TopologyArguments.Empty), passive: false);
        await harness.DeclareQueueAsync("roomy");
        await harness.DeclareQueueAsync("full", true, ("x-max-length", 1), ("x-overflow", "reject-publish"));
        await harness.Vhost.BindQueueAsync("roomy", "dlx", "", TopologyArguments.Empty, 1);
        await harness.Vhost.BindQueueAsync("full", "dlx", "", TopologyArguments.Empty, 1);
        await harness.DeclareQueueAsync("work", true, ("x-message-ttl", 100), ("x-dead-letter-exchange", "dlx"));
        var (channel, _) = harness.OpenChannel();
        channel.Publish(BrokerHarness.Message("", "full", "occupant"), mandatory: true);
        channel.Publish(BrokerHarness.Message("", "work", "precious"), mandatory: true);
        var work = harness.Vhost.FindQueue("work")!;
        var roomy = harness.Vhost.FindQueue("roomy")!;
        var full = harness.Vhost.FindQueue("full")!;

        harness.Clock.Advance(TimeSpan.FromMilliseconds(200));
        await Eventually.TrueAsync(() => work.UndeliverableCount == 1, Wait, "the refused dead letter kept");
        Assert.True(work.DeadLetterFailures >= 1);
        Assert.Equal(0, roomy.ReadyCount); // all or nothing: no copy where there was room
        Assert.Equal(1, full.ReadyCount);

        Assert.Equal("occupant", System.Text.Encoding.UTF8.GetString(channel.Get("full", noAck: true)!.Message.Body.Span));
        harness.Clock.Advance(TimeSpan.FromSeconds(6));
        await Eventually.TrueAsync(() => roomy.ReadyCount == 1 && full.ReadyCount == 1, Wait, "the dead letter moved to both targets once there was room");
        await Eventually.TrueAsync(() => work.Stored!.MessageCount == 0, Wait, "the source letting go");
        harness.Clock.Advance(TimeSpan.FromSeconds(6));
        await Task.Delay(100);
        Assert.Equal(1, roomy.ReadyCount); // moved once, not once per attempt
    }

    [Fact]
    public async Task A_ttl_keeps_running_across_a_restart_from_the_message_s_arrival()
    {
        await using var harness = await BrokerHarness.StartAsync();
        var dlq = await WithDeadLetterQueueAsync(harness);
        await harness.DeclareQueueAsync("work", true, ("x-message-ttl", 60_000), ("x-dead-letter-exchange", "dlx"));
        harness.OpenChannel().Channel.Publish(BrokerHarness.Message("", "work", "kept"), mandatory: true);
        harness.Clock.Advance(TimeSpan.FromSeconds(30));

        await harness.RestartAsync();
        var work = harness.Vhost.FindQueue("work")!;
        harness.Clock.Advance(TimeSpan.FromSeconds(29));
        Assert.Equal(1, work.ReadyCount);

        harness.Clock.Advance(TimeSpan.FromSeconds(2));
        var restoredDlq = harness.Vhost.FindQueue("dlq")!;
        await Eventually.TrueAsync(() => restoredDlq.ReadyCount == 1, Wait, "the message expiring 60 s after it arrived, restart or not");
        _ = dlq;
    }

    [Fact]
    public async Task Delivery_counts_survive_a_restart()
    {
        await using var harness = await BrokerHarness.StartAsync();
        await harness.DeclareQueueAsync("work");
        var (channel, _) = harness.OpenChannel();
        channel.Publish(BrokerHarness.Message("", "work", "again"), mandatory: true);
        for (var i = 0; i < 2; i++)
        {
            var got = channel.Get("work", noAck: false)!;
            channel.Reject(got.DeliveryTag, multiple: false, requeue: true);
        }

        await Eventually.TrueAsync(() => harness.Vhost.FindQueue("work")!.ReadyCount == 1, Wait, "the message back in the queue");
        await harness.RestartAsync();
        var (after, _) = harness.OpenChannel();
        var message = after.Get("work", noAck: true)!.Message;
        Assert.True(message.Properties.Headers!.TryGetHeader("x-delivery-count", out var count));
        Assert.Equal(2L, count);
    }

    private static async Task<Queues.MessageQueue> WithDeadLetterQueueAsync(BrokerHarness harness)
    {
        await harness.Vhost.DeclareExchangeAsync(new ExchangeDefinition("dlx", ExchangeKind.Fanout, true, false, false, TopologyArguments.Empty), passive: false);
        await harness.DeclareQueueAsync("dlq");
        await harness.Vhost.BindQueueAsync("dlq", "dlx", "", TopologyArguments.Empty, 1);
        return harness.Vhost.FindQueue("dlq")!;
    }

    private static Dictionary<string, object?> Death(BrokerMessage message, int index)
    {
        Assert.True(message.Properties.Headers!.TryGetHeader("x-death", out var deaths));
        var table = (MessageHeaders)((IReadOnlyList<object?>)deaths!)[index]!;
        return table.ToDictionary(e => e.Key, e => e.Value);
    }

    private static string? Header(BrokerMessage message, string name) =>
        message.Properties.Headers!.TryGetHeader(name, out var value) ? value?.ToString() : null;
}
