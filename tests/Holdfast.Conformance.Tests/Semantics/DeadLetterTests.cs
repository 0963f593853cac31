using Holdfast.Conformance.Tests.Broker;
using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;

namespace Holdfast.Conformance.Tests.Semantics;

/// <summary>
/// Dead-lettering (<c>x-dead-letter-exchange</c>, <c>x-dead-letter-routing-key</c>) for every reason RabbitMQ has on a
/// classic queue: expired, rejected, maxlen; the x-death history across queues and cycles.
/// </summary>
public sealed class DeadLetterTests
{
    [Fact]
    public async Task Dead_letter_routing_key_replaces_the_routing_key_and_the_consumer_sees_the_dead_letter_exchange()
    {
        await using var scope = await SemanticsScope.StartAsync();
        var origin = await scope.ExchangeAsync("dlrk-origin", ExchangeType.Direct);
        var dlx = await scope.ExchangeAsync("dlrk-dlx", ExchangeType.Direct);
        var byNewKey = await scope.BoundQueueAsync("dlrk-new", dlx, "dead.key");
        var byOldKey = await scope.BoundQueueAsync("dlrk-old", dlx, "orig.key");
        var source = await scope.QueueAsync("dlrk-src", ("x-message-ttl", 100), ("x-dead-letter-exchange", dlx), ("x-dead-letter-routing-key", "dead.key"));
        await scope.Setup.QueueBindAsync(source, origin, "orig.key");
        var consumer = await scope.ConsumeAsync(byNewKey);

        var before = DateTimeOffset.UtcNow;
        await scope.PublishAsync(origin, "orig.key", "rekeyed");
        var dead = await consumer.NextAsync();

        Assert.Equal("rekeyed", dead.Text);
        Assert.Equal(dlx, dead.Exchange);
        Assert.Equal("dead.key", dead.RoutingKey);

        // x-death records where the message was before: the exchange it was published to and its original key.
        var death = Assert.Single(Deaths.XDeath(dead));
        Deaths.AssertEntry(death, 1, "expired", source, origin, ["orig.key"], null, before, DateTimeOffset.UtcNow);
        Deaths.AssertFirstAndLast(scope.Connection, dead, ("expired", source, origin), ("expired", source, origin));
        Assert.Equal(0u, await scope.ReadyAsync(byOldKey));
    }

    [Fact]
    public async Task Without_a_dead_letter_routing_key_the_original_routing_key_is_kept()
    {
        await using var scope = await SemanticsScope.StartAsync();
        var origin = await scope.ExchangeAsync("keep-origin", ExchangeType.Direct);
        var dlx = await scope.ExchangeAsync("keep-dlx", ExchangeType.Direct);
        var byOldKey = await scope.BoundQueueAsync("keep-old", dlx, "orig.key");
        var byOther = await scope.BoundQueueAsync("keep-other", dlx, "other.key");
        var source = await scope.QueueAsync("keep-src", ("x-message-ttl", 100), ("x-dead-letter-exchange", dlx));
        await scope.Setup.QueueBindAsync(source, origin, "orig.key");
        var consumer = await scope.ConsumeAsync(byOldKey);

        var before = DateTimeOffset.UtcNow;
        await scope.PublishAsync(origin, "orig.key", "same-key");
        var dead = await consumer.NextAsync();

        Assert.Equal("same-key", dead.Text);
        Assert.Equal(dlx, dead.Exchange);
        Assert.Equal("orig.key", dead.RoutingKey);
        Deaths.AssertEntry(Assert.Single(Deaths.XDeath(dead)), 1, "expired", source, origin, ["orig.key"], null, before, DateTimeOffset.UtcNow);
        Assert.Equal(0u, await scope.ReadyAsync(byOther));
    }

    [Fact]
    public async Task X_death_routing_keys_include_CC_keys_and_a_dead_letter_routing_key_drops_the_CC_header()
    {
        await using var scope = await SemanticsScope.StartAsync();
        var dlx = await scope.ExchangeAsync("cc-dlx", ExchangeType.Direct);
        var keeps = await scope.QueueAsync("cc-keeps", ("x-dead-letter-exchange", dlx));
        var rekeys = await scope.QueueAsync("cc-rekeys", ("x-dead-letter-exchange", dlx), ("x-dead-letter-routing-key", "dead.key"));
        var byKey = await scope.BoundQueueAsync("cc-bykey", dlx, keeps);
        var byCc = await scope.BoundQueueAsync("cc-bycc", dlx, "cc.key");
        var byNewKey = await scope.BoundQueueAsync("cc-bynew", dlx, "dead.key");

        // Publish straight to each queue (default exchange, so the CC key plays no part in the first routing).
        foreach (var (queue, body) in new[] { (keeps, "keeps-cc"), (rekeys, "drops-cc") })
        {
            var properties = new BasicProperties { Headers = new Dictionary<string, object?> { ["CC"] = new List<object?> { "cc.key" } } };
            await scope.PublishAsync("", queue, body, properties);
            var got = await scope.Setup.BasicGetAsync(queue, autoAck: false);
            Assert.NotNull(got);
            await scope.Setup.BasicRejectAsync(got.DeliveryTag, requeue: false);
        }

        await BrokerKit.EventuallyAsync(async () => await scope.ReadyAsync(byKey) == 1 && await scope.ReadyAsync(byNewKey) == 1, "both dead letters reach the queues bound to their routing keys");

        // Without a dead-letter routing key: the CC header stays, and x-death lists the routing key and the CC keys.
        var kept = await scope.Setup.BasicGetAsync(byKey, autoAck: true);
        Assert.NotNull(kept);
        Assert.Equal("keeps-cc", BrokerKit.Text(kept.Body));
        Assert.True(kept.BasicProperties.Headers!.ContainsKey("CC"), "the CC header was dropped without a dead-letter routing key");
        Assert.Equal(["cc.key"], Assert.IsType<List<object>>(kept.BasicProperties.Headers["CC"]).Select(Deaths.LongString));
        var keptDeath = Assert.IsType<Dictionary<string, object?>>(Assert.Single(Assert.IsType<List<object>>(kept.BasicProperties.Headers["x-death"])));
        Assert.Equal([keeps, "cc.key"], Assert.IsType<List<object>>(keptDeath["routing-keys"]).Select(Deaths.LongString));

        // With one: the CC header is gone, but x-death still lists the original keys.
        var rekeyed = await scope.Setup.BasicGetAsync(byNewKey, autoAck: true);
        Assert.NotNull(rekeyed);
        Assert.Equal("drops-cc", BrokerKit.Text(rekeyed.Body));
        var rekeyedDeath = Assert.IsType<Dictionary<string, object?>>(Assert.Single(Assert.IsType<List<object>>(rekeyed.BasicProperties.Headers!["x-death"])));
        Assert.Equal([rekeys, "cc.key"], Assert.IsType<List<object>>(rekeyedDeath["routing-keys"]).Select(Deaths.LongString));
        Assert.False(rekeyed.BasicProperties.Headers.ContainsKey("CC"), "the CC header survived a dead-letter routing key");

        // The dead letter without a new key is routed by its CC key too; the one with a new key is not.
        var byCcBodies = await scope.Setup.DrainAsync(byCc);
        Assert.Equal(["keeps-cc"], byCcBodies);
        Assert.Equal(0u, await scope.ReadyAsync(byKey));
    }

    [Fact]
    public async Task A_message_expiring_in_two_queues_carries_two_x_death_entries_newest_first()
    {
        await using var scope = await SemanticsScope.StartAsync();
        var dlx1 = await scope.ExchangeAsync("two-dlx1", ExchangeType.Fanout);
        var dlx2 = await scope.ExchangeAsync("two-dlx2", ExchangeType.Fanout);
        var last = await scope.BoundQueueAsync("two-c", dlx2);
        var second = await scope.QueueAsync("two-b", ("x-message-ttl", 100), ("x-dead-letter-exchange", dlx2));
        await scope.Setup.QueueBindAsync(second, dlx1, "");
        var first = await scope.QueueAsync("two-a", ("x-message-ttl", 100), ("x-dead-letter-exchange", dlx1));
        var consumer = await scope.ConsumeAsync(last);

        var before = DateTimeOffset.UtcNow;
        await scope.PublishAsync("", first, "twice-dead");
        var dead = await consumer.NextAsync();
        var after = DateTimeOffset.UtcNow;

        Assert.Equal("twice-dead", dead.Text);
        Assert.Equal(dlx2, dead.Exchange);
        Assert.Equal(first, dead.RoutingKey);
        var deaths = Deaths.XDeath(dead);
        Assert.Equal(2, deaths.Count);
        Deaths.AssertEntry(deaths[0], 1, "expired", second, dlx1, [first], null, before, after);
        Deaths.AssertEntry(deaths[1], 1, "expired", first, "", [first], null, before, after);
        Deaths.AssertFirstAndLast(scope.Connection, dead, ("expired", first, ""), ("expired", second, dlx1));
    }

    [Fact]
    public async Task A_message_rejected_twice_through_the_same_queue_counts_2_on_one_x_death_entry()
    {
        await using var scope = await SemanticsScope.StartAsync();
        var origin = await scope.ExchangeAsync("cycle-origin", ExchangeType.Direct);
        var dlx = await scope.ExchangeAsync("cycle-dlx", ExchangeType.Direct);
        var queue = await scope.QueueAsync("cycle", ("x-dead-letter-exchange", dlx), ("x-dead-letter-routing-key", "retry"));
        await scope.Setup.QueueBindAsync(queue, origin, "work");
        await scope.Setup.QueueBindAsync(queue, dlx, "retry");
        var consumer = await scope.ConsumeAsync(queue);

        var before = DateTimeOffset.UtcNow;
        await scope.PublishAsync(origin, "work", "boomerang");
        var delivery1 = await consumer.NextAsync();
        Assert.Equal((origin, "work"), (delivery1.Exchange, delivery1.RoutingKey));
        Assert.False(delivery1.Properties.IsHeadersPresent() && delivery1.Properties.Headers!.ContainsKey("x-death"));
        await consumer.Channel.BasicRejectAsync(delivery1.DeliveryTag, requeue: false);

        var delivery2 = await consumer.NextAsync();
        Assert.Equal((dlx, "retry"), (delivery2.Exchange, delivery2.RoutingKey));
        Assert.False(delivery2.Redelivered);
        Deaths.AssertEntry(Assert.Single(Deaths.XDeath(delivery2)), 1, "rejected", queue, origin, ["work"], null, before, DateTimeOffset.UtcNow);
        await consumer.Channel.BasicRejectAsync(delivery2.DeliveryTag, requeue: false);

        var delivery3 = await consumer.NextAsync();
        Assert.Equal((dlx, "retry"), (delivery3.Exchange, delivery3.RoutingKey));
        var death = Assert.Single(Deaths.XDeath(delivery3));

        // The one (queue, reason) entry is counted up; RabbitMQ keeps the rest of it as it was written the first time.
        Deaths.AssertEntry(death, 2, "rejected", queue, origin, ["work"], null, before, DateTimeOffset.UtcNow);
        Deaths.AssertFirstAndLast(scope.Connection, delivery3, ("rejected", queue, origin), ("rejected", queue, dlx));
        await consumer.Channel.BasicAckAsync(delivery3.DeliveryTag, multiple: false);
        await Task.Delay(200);
        Assert.False(consumer.TryTake(out var extra), "unexpected delivery: " + extra?.Text);
    }

    [Fact]
    public async Task Reject_and_nack_without_requeue_dead_letter_with_reason_rejected_and_requeue_true_does_not()
    {
        await using var scope = await SemanticsScope.StartAsync();
        var dlx = await scope.ExchangeAsync("rej-dlx", ExchangeType.Fanout);
        var dlq = await scope.BoundQueueAsync("rej-dlq", dlx);
        var source = await scope.QueueAsync("rej-src", ("x-dead-letter-exchange", dlx));
        var dead = await scope.ConsumeAsync(dlq);

        var before = DateTimeOffset.UtcNow;
        foreach (var body in new[] { "rejected", "nacked", "requeued" })
        {
            await scope.PublishAsync("", source, body);
        }

        await using var worker = await scope.Connection.CreateChannelAsync();
        var rejected = await worker.BasicGetAsync(source, autoAck: false);
        var nacked = await worker.BasicGetAsync(source, autoAck: false);
        var requeued = await worker.BasicGetAsync(source, autoAck: false);
        Assert.Equal(["rejected", "nacked", "requeued"], new[] { rejected, nacked, requeued }.Select(g => BrokerKit.Text(g!.Body)));
        await worker.BasicRejectAsync(rejected!.DeliveryTag, requeue: false);
        await worker.BasicNackAsync(nacked!.DeliveryTag, multiple: false, requeue: false);
        await worker.BasicRejectAsync(requeued!.DeliveryTag, requeue: true);

        var letters = await dead.NextAsync(2);
        Assert.Equal(["rejected", "nacked"], letters.Select(l => l.Text));
        foreach (var letter in letters)
        {
            Assert.Equal((dlx, source), (letter.Exchange, letter.RoutingKey));
            Deaths.AssertEntry(Assert.Single(Deaths.XDeath(letter)), 1, "rejected", source, "", [source], null, before, DateTimeOffset.UtcNow);
            Deaths.AssertFirstAndLast(scope.Connection, letter, ("rejected", source, ""), ("rejected", source, ""));
        }

        var again = await worker.BasicGetAsync(source, autoAck: true);
        Assert.NotNull(again);
        Assert.True(again.Redelivered);
        Assert.Equal("requeued", BrokerKit.Text(again.Body));
        await Task.Delay(200);
        Assert.False(dead.TryTake(out var extra), "a requeued message was dead-lettered: " + extra?.Text);
    }

    [Fact]
    public async Task Nack_multiple_without_requeue_dead_letters_every_message_in_order()
    {
        await using var scope = await SemanticsScope.StartAsync();
        var dlx = await scope.ExchangeAsync("nackm-dlx", ExchangeType.Fanout);
        var dlq = await scope.BoundQueueAsync("nackm-dlq", dlx);
        var source = await scope.QueueAsync("nackm-src", ("x-dead-letter-exchange", dlx));
        var dead = await scope.ConsumeAsync(dlq);
        for (var i = 0; i < 3; i++)
        {
            await scope.PublishAsync("", source, $"m{i}");
        }

        var worker = await scope.ConsumeAsync(source);
        var deliveries = await worker.NextAsync(3);
        await worker.Channel.BasicNackAsync(deliveries[^1].DeliveryTag, multiple: true, requeue: false);

        var letters = await dead.NextAsync(3);
        Assert.Equal(["m0", "m1", "m2"], letters.Select(l => l.Text));
        Assert.All(letters, l => Assert.Equal("rejected", Deaths.LongString(Deaths.XDeath(l)[0]["reason"])));
        Assert.Equal(0u, await scope.ReadyAsync(source));
    }

    [Fact]
    public async Task Max_length_drop_head_dead_letters_the_oldest_with_reason_maxlen()
    {
        await using var scope = await SemanticsScope.StartAsync();
        var dlx = await scope.ExchangeAsync("maxlen-dlx", ExchangeType.Fanout);
        var dlq = await scope.BoundQueueAsync("maxlen-dlq", dlx);
        var source = await scope.QueueAsync("maxlen-src", ("x-max-length", 2), ("x-dead-letter-exchange", dlx));
        var dead = await scope.ConsumeAsync(dlq);

        var before = DateTimeOffset.UtcNow;
        foreach (var body in new[] { "m1", "m2", "m3", "m4" })
        {
            await scope.PublishAsync("", source, body);
        }

        var letters = await dead.NextAsync(2);
        Assert.Equal(["m1", "m2"], letters.Select(l => l.Text));
        foreach (var letter in letters)
        {
            Assert.Equal((dlx, source), (letter.Exchange, letter.RoutingKey));
            Deaths.AssertEntry(Assert.Single(Deaths.XDeath(letter)), 1, "maxlen", source, "", [source], null, before, DateTimeOffset.UtcNow);
            Deaths.AssertFirstAndLast(scope.Connection, letter, ("maxlen", source, ""), ("maxlen", source, ""));
        }

        Assert.Equal(["m3", "m4"], await scope.Setup.DrainAsync(source));
    }

    [Fact]
    public async Task Reject_publish_dlx_nacks_the_publisher_and_dead_letters_the_refused_message()
    {
        await using var scope = await SemanticsScope.StartAsync();
        var dlx = await scope.ExchangeAsync("rpdlx-dlx", ExchangeType.Fanout);
        var dlq = await scope.BoundQueueAsync("rpdlx-dlq", dlx);
        var source = await scope.QueueAsync("rpdlx-src", ("x-max-length", 1), ("x-overflow", "reject-publish-dlx"), ("x-dead-letter-exchange", dlx));
        var dead = await scope.ConsumeAsync(dlq);

        var before = DateTimeOffset.UtcNow;
        await scope.PublishAsync("", source, "fits");
        var refused = await Assert.ThrowsAsync<PublishException>(() => scope.PublishAsync("", source, "refused"));
        Assert.False(refused.IsReturn);

        // RabbitMQ's classic queue dead-letters the message it refused (reason maxlen) as well as nacking it.
        var letter = await dead.NextAsync();
        Assert.Equal("refused", letter.Text);
        Assert.Equal((dlx, source), (letter.Exchange, letter.RoutingKey));
        Deaths.AssertEntry(Assert.Single(Deaths.XDeath(letter)), 1, "maxlen", source, "", [source], null, before, DateTimeOffset.UtcNow);
        Assert.Equal(["fits"], await scope.Setup.DrainAsync(source));
    }

    [Fact]
    public async Task Reject_publish_nacks_the_publisher_and_dead_letters_nothing()
    {
        await using var scope = await SemanticsScope.StartAsync();
        var dlx = await scope.ExchangeAsync("rp-dlx", ExchangeType.Fanout);
        var dlq = await scope.BoundQueueAsync("rp-dlq", dlx);
        var source = await scope.QueueAsync("rp-src", ("x-max-length", 1), ("x-overflow", "reject-publish"), ("x-dead-letter-exchange", dlx));

        await scope.PublishAsync("", source, "fits");
        var refused = await Assert.ThrowsAsync<PublishException>(() => scope.PublishAsync("", source, "refused"));
        Assert.False(refused.IsReturn);

        await Task.Delay(300);
        Assert.Equal(0u, await scope.ReadyAsync(dlq));
        Assert.Equal(["fits"], await scope.Setup.DrainAsync(source));
    }

    [Fact]
    public async Task A_dead_letter_exchange_that_routes_nowhere_drops_in_RabbitMQ_and_keeps_in_Holdfast()
    {
        await using var scope = await SemanticsScope.StartAsync();
        var dlx = await scope.ExchangeAsync("nowhere-dlx", ExchangeType.Fanout);
        var source = await scope.QueueAsync("nowhere-src", ("x-message-ttl", 100), ("x-dead-letter-exchange", dlx));

        await scope.PublishAsync("", source, "homeless");
        await BrokerKit.EventuallyAsync(async () => await scope.ReadyAsync(source) == 0, "the message expires out of the queue");
        await Task.Delay(300);

        // A queue bound only now: did the dead letter survive having no route?
        var late = await scope.BoundQueueAsync("nowhere-late", dlx);
        if (scope.IsRabbitMq)
        {
            // RabbitMQ (at-most-once dead-lettering from classic queues) drops a dead letter its DLX routes nowhere.
            await Task.Delay(1000);
            Assert.Equal(0u, await scope.ReadyAsync(late));
            Assert.Equal(0u, await scope.ReadyAsync(source));
        }
        else
        {
            // Holdfast dead-letters at least once: the message waits in its queue and is retried until it has a home.
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(15);
            while (await scope.ReadyAsync(late) == 0 && DateTime.UtcNow < deadline)
            {
                await Task.Delay(100);
            }

            var got = await scope.Setup.BasicGetAsync(late, autoAck: true);
            Assert.True(got is not null, "the dead letter was lost when its exchange routed nowhere");
            Assert.Equal("homeless", BrokerKit.Text(got.Body));
            Assert.Equal("expired", Deaths.LongString(Assert.IsType<Dictionary<string, object?>>(Assert.Single(Assert.IsType<List<object>>(got.BasicProperties.Headers!["x-death"])))["reason"]));
        }
    }

    [Fact]
    public async Task A_persistent_message_dead_lettered_keeps_its_delivery_mode_and_other_properties()
    {
        await using var scope = await SemanticsScope.StartAsync();
        var dlx = await scope.ExchangeAsync("props-dlx", ExchangeType.Fanout);
        var dlq = await scope.BoundQueueAsync("props-dlq", dlx);
        var source = await scope.QueueAsync("props-src", ("x-dead-letter-exchange", dlx));
        var dead = await scope.ConsumeAsync(dlq);
        var properties = new BasicProperties
        {
            Persistent = true,
            Priority = 3,
            CorrelationId = "corr",
            ReplyTo = "reply",
            Type = "kind",
            AppId = "app",
            Timestamp = new AmqpTimestamp(1_700_000_000),
            ContentEncoding = "identity",
        };

        await scope.PublishAsync("", source, "props", properties);
        var got = await scope.Setup.BasicGetAsync(source, autoAck: false);
        Assert.NotNull(got);
        await scope.Setup.BasicNackAsync(got.DeliveryTag, multiple: false, requeue: false);
        var letter = await dead.NextAsync();

        var p = letter.Properties;
        Assert.Equal(
            (DeliveryModes.Persistent, (byte)3, "corr", "reply", "kind", "app", 1_700_000_000L, "identity"),
            (p.DeliveryMode, p.Priority, p.CorrelationId, p.ReplyTo, p.Type, p.AppId, p.Timestamp.UnixTime, p.ContentEncoding));
        Assert.Equal(Deaths.TopLevelDeathHeaders(scope.Connection).Order(StringComparer.Ordinal), Deaths.HeaderNames(p.Headers!));
    }
}
