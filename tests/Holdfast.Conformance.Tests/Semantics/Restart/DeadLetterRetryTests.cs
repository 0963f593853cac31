using Holdfast.Conformance.Tests.Broker;
using RabbitMQ.Client;

namespace Holdfast.Conformance.Tests.Semantics.Restart;

/// <summary>
/// At-least-once dead-lettering: a message the dead-letter target refuses (full with reject-publish) or that routes
/// nowhere stays stored in its source, is counted, and is retried (every 5 s) until it goes through.
/// </summary>
public sealed class DeadLetterRetryTests
{
    private static readonly TimeSpan RetryWait = TimeSpan.FromSeconds(8);

    [Fact]
    public async Task An_expired_message_refused_by_a_full_reject_publish_target_stays_in_the_source_and_arrives_once_the_target_is_drained()
    {
        await using var scope = await RestartScope.StartAsync();
        await scope.QueueAsync("full.t", ("x-max-length", 1), ("x-overflow", "reject-publish"));
        await scope.PublishAsync("", "full.t", "filler");
        await scope.ExchangeAsync("full.dlx", ExchangeType.Direct);
        await scope.Setup.QueueBindAsync("full.t", "full.dlx", "full.src");
        await scope.QueueAsync("full.src", ("x-message-ttl", 200), ("x-dead-letter-exchange", "full.dlx"));

        var before = DateTimeOffset.UtcNow;
        await scope.PublishAsync("", "full.src", "expiring");
        await Task.Delay(800);

        // Kept in the source as waiting for a dead-letter home (not ready: RabbitMQ's at-least-once queues do not count it either).
        Assert.Equal(1u, await scope.ReadyAsync("full.t"));
        Assert.Equal(0u, await scope.ReadyAsync("full.src"));
        var source = scope.VirtualHost.FindQueue("full.src")!;
        Assert.Equal(1, source.UndeliverableCount);
        Assert.True(source.DeadLetterFailures >= 1, $"DeadLetterFailures is {source.DeadLetterFailures}");

        var filler = await scope.Setup.BasicGetAsync("full.t", autoAck: true);
        Assert.NotNull(filler);
        Assert.Equal("filler", Text(filler.Body));

        var got = await scope.PollGetAsync("full.t", RetryWait);
        Assert.NotNull(got);
        Assert.Equal("expiring", Text(got.Body));
        var letter = new Delivery(string.Empty, got.DeliveryTag, got.Redelivered, got.Exchange, got.RoutingKey, got.BasicProperties, got.Body.ToArray());
        Deaths.AssertEntry(Assert.Single(Deaths.XDeath(letter)), 1, "expired", "full.src", "", ["full.src"], null, before, DateTimeOffset.UtcNow);

        Assert.Equal(0u, await scope.ReadyAsync("full.src"));
        Assert.Equal(0, scope.VirtualHost.FindQueue("full.src")!.UndeliverableCount);
        await Task.Delay(300);
        Assert.Equal(0u, await scope.ReadyAsync("full.t"));
    }

    [Fact]
    public async Task An_expired_message_whose_dead_letter_exchange_routes_nowhere_stays_in_the_source_and_survives_a_restart_and_arrives_once_a_queue_is_bound()
    {
        await using var scope = await RestartScope.StartAsync();
        await scope.ExchangeAsync("miss.dlx", ExchangeType.Direct);
        await scope.QueueAsync("miss.src", ("x-message-ttl", 200), ("x-dead-letter-exchange", "miss.dlx"));

        var before = DateTimeOffset.UtcNow;
        await scope.PublishAsync("", "miss.src", "unroutable");
        await Task.Delay(800);

        Assert.Equal(0u, await scope.ReadyAsync("miss.src"));
        var source = scope.VirtualHost.FindQueue("miss.src")!;
        Assert.Equal(1, source.UndeliverableCount);
        Assert.True(source.DeadLetterFailures >= 1, $"DeadLetterFailures is {source.DeadLetterFailures}");

        // Stored, so a restart keeps it too (it expires again and waits for a route again).
        await scope.RestartAsync();
        await Task.Delay(300);
        Assert.Equal(1, scope.VirtualHost.FindQueue("miss.src")!.UndeliverableCount);

        await scope.QueueAsync("miss.t");
        await scope.Setup.QueueBindAsync("miss.t", "miss.dlx", "miss.src");

        var got = await scope.PollGetAsync("miss.t", RetryWait);
        Assert.NotNull(got);
        Assert.Equal("unroutable", Text(got.Body));
        var letter = new Delivery(string.Empty, got.DeliveryTag, got.Redelivered, got.Exchange, got.RoutingKey, got.BasicProperties, got.Body.ToArray());
        Deaths.AssertEntry(Assert.Single(Deaths.XDeath(letter)), 1, "expired", "miss.src", "", ["miss.src"], null, before, DateTimeOffset.UtcNow);

        Assert.Equal(0u, await scope.ReadyAsync("miss.src"));
        Assert.Equal(0, scope.VirtualHost.FindQueue("miss.src")!.UndeliverableCount);
        await Task.Delay(300);
        Assert.Equal(0u, await scope.ReadyAsync("miss.t"));
    }

    private static string Text(ReadOnlyMemory<byte> body) => System.Text.Encoding.UTF8.GetString(body.Span);
}
