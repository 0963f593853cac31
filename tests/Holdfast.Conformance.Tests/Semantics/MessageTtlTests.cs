using System.Diagnostics;
using Holdfast.Conformance.Tests.Broker;
using RabbitMQ.Client;

namespace Holdfast.Conformance.Tests.Semantics;

/// <summary>
/// Message TTL, per queue (<c>x-message-ttl</c>) and per message (<c>expiration</c>), and what an expired message looks
/// like once dead-lettered: RabbitMQ's behaviour, as RabbitMQ.Client 7 sees it.
/// </summary>
public sealed class MessageTtlTests
{
    [Fact]
    public async Task Queue_ttl_expires_an_unconsumed_message_to_the_dead_letter_exchange_with_RabbitMQs_x_death_header()
    {
        await using var scope = await SemanticsScope.StartAsync();
        var dlx = await scope.ExchangeAsync("ttl-dlx", ExchangeType.Fanout);
        var dlq = await scope.BoundQueueAsync("ttl-dlq", dlx);
        var source = await scope.QueueAsync("ttl-src", ("x-message-ttl", 200), ("x-dead-letter-exchange", dlx));
        var consumer = await scope.ConsumeAsync(dlq);

        var properties = new BasicProperties
        {
            MessageId = "m-1",
            ContentType = "text/plain",
            Headers = new Dictionary<string, object?> { ["app"] = "kept" },
        };
        var before = DateTimeOffset.UtcNow;
        var clock = Stopwatch.StartNew();
        await scope.PublishAsync("", source, "expiring", properties);

        var dead = await consumer.NextAsync();
        clock.Stop();
        var after = DateTimeOffset.UtcNow;

        Assert.Equal("expiring", dead.Text);
        Assert.True(clock.ElapsedMilliseconds >= 150, $"dead-lettered after {clock.ElapsedMilliseconds} ms, before its 200 ms TTL");
        Assert.Equal(dlx, dead.Exchange);
        Assert.Equal(source, dead.RoutingKey);
        Assert.False(dead.Redelivered);
        Assert.Equal("m-1", dead.Properties.MessageId);
        Assert.Equal("text/plain", dead.Properties.ContentType);
        Assert.False(dead.Properties.IsExpirationPresent());

        var headers = Deaths.Headers(dead);
        Assert.Equal(
            new[] { "app" }.Concat(Deaths.TopLevelDeathHeaders(scope.Connection)).Order(StringComparer.Ordinal),
            Deaths.HeaderNames(headers));
        Assert.Equal("kept", Deaths.LongString(headers["app"]));
        var death = Assert.Single(Deaths.XDeath(dead));
        Deaths.AssertEntry(death, count: 1, "expired", source, exchange: "", [source], originalExpiration: null, before, after);
        Deaths.AssertFirstAndLast(scope.Connection, dead, ("expired", source, ""), ("expired", source, ""));
        Assert.Equal(0u, await scope.ReadyAsync(source));
    }

    [Fact]
    public async Task Per_message_expiration_dead_letters_without_the_expiration_property_and_records_original_expiration()
    {
        await using var scope = await SemanticsScope.StartAsync();
        var dlx = await scope.ExchangeAsync("exp-dlx", ExchangeType.Fanout);
        var dlq = await scope.BoundQueueAsync("exp-dlq", dlx);
        var source = await scope.QueueAsync("exp-src", ("x-dead-letter-exchange", dlx));
        var consumer = await scope.ConsumeAsync(dlq);

        var before = DateTimeOffset.UtcNow;
        await scope.PublishAsync("", source, "short-lived", new BasicProperties { Expiration = "200" });
        await scope.PublishAsync("", source, "immortal");
        var dead = await consumer.NextAsync();
        var after = DateTimeOffset.UtcNow;

        Assert.Equal("short-lived", dead.Text);
        Assert.False(dead.Properties.IsExpirationPresent(), $"expiration '{dead.Properties.Expiration}' survived dead-lettering");
        Assert.Null(dead.Properties.Expiration);
        var death = Assert.Single(Deaths.XDeath(dead));
        Deaths.AssertEntry(death, count: 1, "expired", source, exchange: "", [source], originalExpiration: "200", before, after);
        Deaths.AssertFirstAndLast(scope.Connection, dead, ("expired", source, ""), ("expired", source, ""));

        // The message without a TTL is untouched, and nothing else is dead-lettered.
        var kept = await scope.Setup.BasicGetAsync(source, autoAck: true);
        Assert.NotNull(kept);
        Assert.Equal("immortal", BrokerKit.Text(kept.Body));
        await Task.Delay(300);
        Assert.False(consumer.TryTake(out var extra), "unexpected dead letter: " + extra?.Text);
    }

    [Fact]
    public async Task Queue_ttl_and_per_message_expiration_the_lower_wins()
    {
        await using var scope = await SemanticsScope.StartAsync();
        var dlx = await scope.ExchangeAsync("min-dlx", ExchangeType.Fanout);
        var dlq = await scope.BoundQueueAsync("min-dlq", dlx);
        var source = await scope.QueueAsync("min-src", ("x-message-ttl", 60_000), ("x-dead-letter-exchange", dlx));
        var consumer = await scope.ConsumeAsync(dlq);

        var clock = Stopwatch.StartNew();
        await scope.PublishAsync("", source, "message-ttl-wins", new BasicProperties { Expiration = "150" });
        var dead = await consumer.NextAsync();

        Assert.Equal("message-ttl-wins", dead.Text);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5));
        Deaths.AssertEntry(Assert.Single(Deaths.XDeath(dead)), 1, "expired", source, "", [source], "150", DateTimeOffset.UtcNow.AddSeconds(-10), DateTimeOffset.UtcNow);
    }

    [Theory]
    [InlineData("abc", "no_integer")]
    [InlineData("", "no_integer")]
    [InlineData("-1", "{value_negative,-1}")]
    [InlineData("12abc", "{leftover_string,\"abc\"}")]
    public async Task An_invalid_expiration_closes_the_channel_with_406(string expiration, string why)
    {
        await using var scope = await SemanticsScope.StartAsync();
        var queue = await scope.QueueAsync("bad-exp");
        await using var channel = await scope.Connection.CreateChannelAsync();

        await channel.BasicPublishAsync("", queue, mandatory: false, new BasicProperties { Expiration = expiration }, "x"u8.ToArray());

        await channel.ClosedByServerAsync(406, $"PRECONDITION_FAILED - invalid expiration '{expiration}': {why}");
        Assert.True(scope.Connection.IsOpen);
        Assert.Equal(0u, await scope.ReadyAsync(queue));
    }

    [Fact]
    public async Task Queue_ttl_zero_delivers_to_a_waiting_consumer()
    {
        await using var scope = await SemanticsScope.StartAsync();
        var dlx = await scope.ExchangeAsync("ttl0-dlx", ExchangeType.Fanout);
        var dlq = await scope.BoundQueueAsync("ttl0-dlq", dlx);
        var source = await scope.QueueAsync("ttl0-live", ("x-message-ttl", 0), ("x-dead-letter-exchange", dlx));
        var consumer = await scope.ConsumeAsync(source);

        await scope.PublishAsync("", source, "caught");
        var delivery = await consumer.NextAsync();

        Assert.Equal("caught", delivery.Text);
        Assert.Equal("", delivery.Exchange);
        Assert.False(delivery.Properties.IsHeadersPresent() && delivery.Properties.Headers!.ContainsKey("x-death"));
        Assert.Equal(0u, await scope.ReadyAsync(dlq));
    }

    [Fact]
    public async Task Queue_ttl_zero_without_a_consumer_expires_at_once_to_the_dead_letter_exchange()
    {
        await using var scope = await SemanticsScope.StartAsync();
        var dlx = await scope.ExchangeAsync("ttl0-dlx", ExchangeType.Fanout);
        var dlq = await scope.BoundQueueAsync("ttl0-dlq", dlx);
        var source = await scope.QueueAsync("ttl0-idle", ("x-message-ttl", 0), ("x-dead-letter-exchange", dlx));
        var consumer = await scope.ConsumeAsync(dlq);

        var before = DateTimeOffset.UtcNow;
        await scope.PublishAsync("", source, "missed");
        var dead = await consumer.NextAsync();

        Assert.Equal("missed", dead.Text);
        Deaths.AssertEntry(Assert.Single(Deaths.XDeath(dead)), 1, "expired", source, "", [source], null, before, DateTimeOffset.UtcNow);
        Assert.Equal(0u, await scope.ReadyAsync(source));
        Assert.Null(await scope.Setup.BasicGetAsync(source, autoAck: true));
    }

    [Fact]
    public async Task Per_message_expiration_zero_delivers_to_a_waiting_consumer_and_otherwise_expires()
    {
        await using var scope = await SemanticsScope.StartAsync();
        var dlx = await scope.ExchangeAsync("exp0-dlx", ExchangeType.Fanout);
        var dlq = await scope.BoundQueueAsync("exp0-dlq", dlx);
        var idle = await scope.QueueAsync("exp0-idle", ("x-dead-letter-exchange", dlx));
        var live = await scope.QueueAsync("exp0-live", ("x-dead-letter-exchange", dlx));
        var dead = await scope.ConsumeAsync(dlq);
        var taker = await scope.ConsumeAsync(live);

        await scope.PublishAsync("", live, "caught", new BasicProperties { Expiration = "0" });
        var delivery = await taker.NextAsync();
        Assert.Equal("caught", delivery.Text);
        Assert.Equal("0", delivery.Properties.Expiration);

        await scope.PublishAsync("", idle, "missed", new BasicProperties { Expiration = "0" });
        var letter = await dead.NextAsync();
        Assert.Equal("missed", letter.Text);
        Assert.False(letter.Properties.IsExpirationPresent());
        Deaths.AssertEntry(Assert.Single(Deaths.XDeath(letter)), 1, "expired", idle, "", [idle], "0", DateTimeOffset.UtcNow.AddSeconds(-10), DateTimeOffset.UtcNow);
        Assert.False(dead.TryTake(out var extra), "the delivered message was dead-lettered too: " + extra?.Text);
    }

    [Fact]
    public async Task Per_message_ttl_expires_only_at_the_head_of_the_queue()
    {
        await using var scope = await SemanticsScope.StartAsync();
        var dlx = await scope.ExchangeAsync("head-dlx", ExchangeType.Fanout);
        var dlq = await scope.BoundQueueAsync("head-dlq", dlx);
        var source = await scope.QueueAsync("head-src", ("x-dead-letter-exchange", dlx));
        await scope.PublishAsync("", source, "long-lived", new BasicProperties { Expiration = "60000" });
        await scope.PublishAsync("", source, "short-lived", new BasicProperties { Expiration = "100" });

        // The short-lived message is past its time, but behind one that is not: it stays, and is counted.
        await Task.Delay(500);
        Assert.Equal(2u, await scope.ReadyAsync(source));
        Assert.Equal(0u, await scope.ReadyAsync(dlq));

        // Once it reaches the head it expires instead of being delivered.
        var head = await scope.Setup.BasicGetAsync(source, autoAck: true);
        Assert.NotNull(head);
        Assert.Equal("long-lived", BrokerKit.Text(head.Body));
        Assert.Null(await scope.Setup.BasicGetAsync(source, autoAck: true));
        await BrokerKit.EventuallyAsync(async () => await scope.ReadyAsync(dlq) == 1, "the expired message is dead-lettered once at the head");
        var dead = await scope.Setup.BasicGetAsync(dlq, autoAck: true);
        Assert.Equal("short-lived", BrokerKit.Text(dead!.Body));
        Assert.Equal("100", Deaths.LongString(Deaths.XDeath(new Delivery("", 0, false, "", "", dead.BasicProperties, dead.Body.ToArray()))[0]["original-expiration"]));
    }

    [Fact]
    public async Task A_message_requeued_after_its_ttl_passed_is_dead_lettered_instead_of_redelivered()
    {
        await using var scope = await SemanticsScope.StartAsync();
        var dlx = await scope.ExchangeAsync("requeue-ttl-dlx", ExchangeType.Fanout);
        var dlq = await scope.BoundQueueAsync("requeue-ttl-dlq", dlx);
        var source = await scope.QueueAsync("requeue-ttl-src", ("x-message-ttl", 200), ("x-dead-letter-exchange", dlx));
        var dead = await scope.ConsumeAsync(dlq);
        await scope.PublishAsync("", source, "stale");

        await using var worker = await scope.Connection.CreateChannelAsync();
        var got = await worker.BasicGetAsync(source, autoAck: false);
        Assert.NotNull(got);
        await Task.Delay(400);
        var before = DateTimeOffset.UtcNow;
        await worker.BasicNackAsync(got.DeliveryTag, multiple: false, requeue: true);

        // Requeued, the message keeps the expiry it had: it is expired now, so it is dead-lettered, not redelivered.
        var letter = await dead.NextAsync();
        Assert.Equal("stale", letter.Text);
        Deaths.AssertEntry(Assert.Single(Deaths.XDeath(letter)), 1, "expired", source, "", [source], null, before, DateTimeOffset.UtcNow);
        Assert.Null(await worker.BasicGetAsync(source, autoAck: true));
    }

    [Fact]
    public async Task Expired_messages_without_a_dead_letter_exchange_are_dropped()
    {
        await using var scope = await SemanticsScope.StartAsync();
        var source = await scope.QueueAsync("ttl-drop", ("x-message-ttl", 100));

        await scope.PublishAsync("", source, "gone");
        await BrokerKit.EventuallyAsync(async () => await scope.ReadyAsync(source) == 0, "the expired message leaves the queue");
        Assert.Null(await scope.Setup.BasicGetAsync(source, autoAck: true));
    }
}
