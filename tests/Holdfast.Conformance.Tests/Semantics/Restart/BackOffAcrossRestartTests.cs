using System.Diagnostics;
using RabbitMQ.Client;

namespace Holdfast.Conformance.Tests.Semantics.Restart;

/// <summary>x-retry-delays: a nacked message waits out the next delay (the last one repeating) before it is ready again.</summary>
[Collection(RestartTimingCollection.Name)]
public sealed class BackOffAcrossRestartTests
{
    [Fact]
    public async Task Nacked_messages_wait_300_then_600_then_600_ms_and_are_dead_lettered_with_delivery_limit_after_the_limit()
    {
        await using var scope = await RestartScope.StartAsync();
        await scope.ExchangeAsync("bo.dlx", ExchangeType.Fanout);
        await scope.QueueAsync("bo.dead");
        await scope.Setup.QueueBindAsync("bo.dead", "bo.dlx", "");
        await scope.QueueAsync(
            "bo.q", ("x-retry-delays", new List<object> { 300, 600 }), ("x-delivery-limit", 3), ("x-dead-letter-exchange", "bo.dlx"));
        var (dead, _) = await scope.ConsumeAsync("bo.dead", autoAck: true);
        var (worker, _) = await scope.ConsumeAsync("bo.q", prefetch: 1);

        var before = DateTimeOffset.UtcNow;
        await scope.PublishAsync("", "bo.q", "retry-me");
        var delivery = await worker.NextAsync();
        var counts = new List<long?> { Deaths.DeliveryCount(delivery) };
        var redelivered = new List<bool> { delivery.Redelivered };
        var gaps = new List<long>();
        var clock = Stopwatch.StartNew();
        for (var i = 0; i < 3; i++)
        {
            Assert.Equal("retry-me", delivery.Text);
            var nackedMs = clock.ElapsedMilliseconds;
            await worker.Channel.BasicNackAsync(delivery.DeliveryTag, multiple: false, requeue: true);
            delivery = await worker.NextAsync();
            gaps.Add(clock.ElapsedMilliseconds - nackedMs);
            counts.Add(Deaths.DeliveryCount(delivery));
            redelivered.Add(delivery.Redelivered);
        }

        var gapText = string.Join(", ", gaps);
        Assert.Equal([null, 1L, 2L, 3L], counts);
        Assert.Equal([false, true, true, true], redelivered);
        Assert.True(gaps[0] >= 295 && gaps[0] < 900, $"redelivery gaps {gapText} ms; the first should be ~300");
        Assert.True(gaps[1] >= 595 && gaps[1] < 1200, $"redelivery gaps {gapText} ms; the second should be ~600");
        Assert.True(gaps[2] >= 595 && gaps[2] < 1200, $"redelivery gaps {gapText} ms; the third should be ~600 (the last delay repeats)");

        // The fourth return exceeds x-delivery-limit 3: dead-lettered instead of waiting again.
        Assert.Equal("retry-me", delivery.Text);
        await worker.Channel.BasicNackAsync(delivery.DeliveryTag, multiple: false, requeue: true);
        var letter = await dead.NextAsync();
        Assert.Equal("retry-me", letter.Text);
        Deaths.AssertEntry(Assert.Single(Deaths.XDeath(letter)), 1, "delivery_limit", "bo.q", "", ["bo.q"], null, before, DateTimeOffset.UtcNow);

        await Task.Delay(800);
        Assert.False(worker.TryTake(out var extra), $"delivered again past the limit (x-delivery-count {(extra is null ? null : Deaths.DeliveryCount(extra))})");
        Assert.False(dead.TryTake(out _), "dead-lettered twice");
        Assert.Equal(0u, await scope.ReadyAsync("bo.q"));
    }

    [Fact]
    public async Task A_message_waiting_out_a_retry_delay_is_not_lost_by_a_restart()
    {
        await using var scope = await RestartScope.StartAsync();
        await scope.QueueAsync("bor.q", ("x-retry-delays", new List<object> { 3000 }), ("x-delivery-limit", 5));
        var (worker, _) = await scope.ConsumeAsync("bor.q", prefetch: 1);

        await scope.PublishAsync("", "bor.q", "waiting");
        var first = await worker.NextAsync();
        Assert.Equal("waiting", first.Text);
        var clock = Stopwatch.StartNew();
        await worker.Channel.BasicNackAsync(first.DeliveryTag, multiple: false, requeue: true);
        await Task.Delay(400);
        Assert.False(worker.TryTake(out _), "redelivered before its 3000 ms retry delay");

        var restartBeganMs = clock.ElapsedMilliseconds;
        await scope.RestartAsync();
        var (after, _) = await scope.ConsumeAsync("bor.q", prefetch: 1);
        var again = await after.NextAsync();
        var arrivedMs = clock.ElapsedMilliseconds;
        Assert.Equal("waiting", again.Text);
        Assert.True(again.Redelivered);
        Assert.Equal(1L, Deaths.DeliveryCount(again));
        await after.Channel.BasicAckAsync(again.DeliveryTag, multiple: false);

        await Task.Delay(300);
        Assert.False(after.TryTake(out _), $"delivered twice after the restart (first copy {arrivedMs} ms after the nack, restart began at {restartBeganMs} ms)");
        Assert.Equal(0u, await scope.ReadyAsync("bor.q"));
    }
}
