using System.Diagnostics;
using RabbitMQ.Client;

namespace Holdfast.Conformance.Tests.Semantics.Restart;

/// <summary>Delayed messages (x-delay) are held durably and routed when due, exactly once, across a restart.</summary>
[Collection(RestartTimingCollection.Name)]
public sealed class DelayedAcrossRestartTests
{
    // A clean restart takes 0.3–2.5 s on a loaded 2-core machine: the delay leaves room for a slow one.
    private const int DelayMs = 4000;

    private static BasicProperties Delayed(int milliseconds) =>
        new() { Headers = new Dictionary<string, object?> { ["x-delay"] = milliseconds } };

    [Fact]
    public async Task An_x_delay_message_to_amq_direct_survives_a_restart_and_is_routed_once_after_its_time()
    {
        await using var scope = await RestartScope.StartAsync();
        await scope.QueueAsync("dly.q");
        await scope.Setup.QueueBindAsync("dly.q", "amq.direct", "dly.key");

        var clock = Stopwatch.StartNew();
        await scope.PublishAsync("amq.direct", "dly.key", "later", Delayed(DelayMs));
        await Task.Delay(100);
        Assert.Equal(0u, await scope.ReadyAsync("dly.q"));

        await RestartScope.DelayUntilAsync(clock, 200);
        await scope.RestartAsync();
        var restartedMs = clock.ElapsedMilliseconds;
        Assert.True(restartedMs < DelayMs - 1000, $"the restart ended {restartedMs} ms after the publish: too late to tell anything");
        Assert.Equal(0u, await scope.ReadyAsync("dly.q"));

        var (consumer, _) = await scope.ConsumeAsync("dly.q", autoAck: true);
        var delivery = await consumer.NextAsync();
        var arrivedMs = clock.ElapsedMilliseconds;
        Assert.Equal("later", delivery.Text);
        Assert.InRange(arrivedMs, DelayMs - 50, DelayMs + 1500);

        await Task.Delay(600);
        Assert.False(consumer.TryTake(out var extra), $"routed twice (second copy '{extra?.Text}')");
        Assert.Equal(1, consumer.Received);

        // The held copy is gone: a second restart routes nothing again.
        await scope.RestartAsync();
        await Task.Delay(500);
        Assert.Equal(0u, await scope.ReadyAsync("dly.q"));
    }

    [Fact]
    public async Task An_x_delayed_message_exchange_of_delayed_type_direct_routes_by_key_after_the_delay_across_a_restart()
    {
        await using var scope = await RestartScope.StartAsync();
        await scope.Setup.ExchangeDeclareAsync(
            "dlyx", "x-delayed-message", durable: true, autoDelete: false, arguments: new Dictionary<string, object?> { ["x-delayed-type"] = "direct" });
        await scope.QueueAsync("dlyx.q");
        await scope.QueueAsync("dlyx.other");
        await scope.Setup.QueueBindAsync("dlyx.q", "dlyx", "k");
        await scope.Setup.QueueBindAsync("dlyx.other", "dlyx", "other");

        var clock = Stopwatch.StartNew();
        await scope.PublishAsync("dlyx", "k", "via-exchange", Delayed(DelayMs));
        await Task.Delay(100);
        Assert.Equal(0u, await scope.ReadyAsync("dlyx.q"));

        await RestartScope.DelayUntilAsync(clock, 200);
        await scope.RestartAsync();
        var restartedMs = clock.ElapsedMilliseconds;
        Assert.True(restartedMs < DelayMs - 1000, $"the restart ended {restartedMs} ms after the publish: too late to tell anything");
        Assert.Equal(0u, await scope.ReadyAsync("dlyx.q"));

        var (consumer, _) = await scope.ConsumeAsync("dlyx.q", autoAck: true);
        var delivery = await consumer.NextAsync();
        var arrivedMs = clock.ElapsedMilliseconds;
        Assert.Equal("via-exchange", delivery.Text);
        Assert.Equal(("dlyx", "k"), (delivery.Exchange, delivery.RoutingKey));
        Assert.InRange(arrivedMs, DelayMs - 50, DelayMs + 1500);

        await Task.Delay(500);
        Assert.False(consumer.TryTake(out _), "routed twice");
        Assert.Equal(0u, await scope.ReadyAsync("dlyx.other"));
    }
}
