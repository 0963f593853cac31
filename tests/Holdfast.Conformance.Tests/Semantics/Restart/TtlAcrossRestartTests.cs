using System.Diagnostics;
using RabbitMQ.Client;

namespace Holdfast.Conformance.Tests.Semantics.Restart;

/// <summary>x-message-ttl on a durable queue: the arrival time is stored, so a restart does not restart the TTL.</summary>
[Collection(RestartTimingCollection.Name)]
public sealed class TtlAcrossRestartTests
{
    [Fact]
    public async Task Message_ttl_keeps_running_across_a_restart_and_dead_letters_at_publish_plus_ttl()
    {
        await using var scope = await RestartScope.StartAsync();
        await scope.ExchangeAsync("ttl.dlx", ExchangeType.Direct);
        await scope.QueueAsync("ttl.dead");
        await scope.Setup.QueueBindAsync("ttl.dead", "ttl.dlx", "ttl.src");
        await scope.QueueAsync("ttl.src", ("x-message-ttl", 1500), ("x-dead-letter-exchange", "ttl.dlx"));

        var before = DateTimeOffset.UtcNow;
        var clock = Stopwatch.StartNew();
        await scope.PublishAsync("", "ttl.src", "ttl-1");
        await RestartScope.DelayUntilAsync(clock, 500);
        var restartStartedMs = clock.ElapsedMilliseconds;
        await scope.RestartAsync();
        var restartedMs = clock.ElapsedMilliseconds;
        Assert.True(restartedMs < 1350, $"the restart ended {restartedMs} ms after the publish: too late to tell anything");

        // Still there right after the restart, not yet dead-lettered.
        Assert.Equal(1u, await scope.ReadyAsync("ttl.src"));
        Assert.Equal(0u, await scope.ReadyAsync("ttl.dead"));

        var (dead, _) = await scope.ConsumeAsync("ttl.dead", autoAck: true);
        var letter = await dead.NextAsync();
        var arrivedMs = clock.ElapsedMilliseconds;

        Assert.Equal("ttl-1", letter.Text);
        Deaths.AssertEntry(Assert.Single(Deaths.XDeath(letter)), 1, "expired", "ttl.src", "", ["ttl.src"], null, before, DateTimeOffset.UtcNow);

        // Due at publish + 1500 ms; a TTL restarted by the restart would be due at restart + 1500 ms or later.
        Assert.True(arrivedMs >= 1400, $"dead-lettered {arrivedMs} ms after the publish, before its 1500 ms TTL");
        Assert.True(arrivedMs < 2500, $"dead-lettered {arrivedMs} ms after the publish (restart began at {restartStartedMs} ms): the TTL did not keep running across the restart");
        Assert.True(arrivedMs < restartStartedMs + 1500 - 100, $"dead-lettered {arrivedMs} ms after the publish, i.e. about TTL after the restart (begun at {restartStartedMs} ms)");
        Assert.Equal(0u, await scope.ReadyAsync("ttl.src"));
        await Task.Delay(300);
        Assert.False(dead.TryTake(out _), "dead-lettered twice");
    }
}
