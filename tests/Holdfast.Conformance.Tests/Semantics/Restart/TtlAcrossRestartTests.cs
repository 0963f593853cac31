using System.Diagnostics;
using RabbitMQ.Client;

namespace Holdfast.Conformance.Tests.Semantics.Restart;

/// <summary>x-message-ttl on a durable queue: the arrival time is stored, so a restart does not restart the TTL.</summary>
[Collection(RestartTimingCollection.Name)]
public sealed class TtlAcrossRestartTests
{
    // A clean restart takes 0.3–2.5 s on a loaded 2-core machine: the TTL leaves room for a slow one,
    // and the restart starts late enough that "TTL from the publish" and "TTL from the restart" are
    // a second apart.
    private const int TtlMs = 5000;
    private const int RestartAtMs = 1000;

    [Fact]
    public async Task Message_ttl_keeps_running_across_a_restart_and_dead_letters_at_publish_plus_ttl()
    {
        await using var scope = await RestartScope.StartAsync();
        await scope.ExchangeAsync("ttl.dlx", ExchangeType.Direct);
        await scope.QueueAsync("ttl.dead");
        await scope.Setup.QueueBindAsync("ttl.dead", "ttl.dlx", "ttl.src");
        await scope.QueueAsync("ttl.src", ("x-message-ttl", TtlMs), ("x-dead-letter-exchange", "ttl.dlx"));

        var before = DateTimeOffset.UtcNow;
        var clock = Stopwatch.StartNew();
        await scope.PublishAsync("", "ttl.src", "ttl-1");
        await RestartScope.DelayUntilAsync(clock, RestartAtMs);
        var restartStartedMs = clock.ElapsedMilliseconds;
        await scope.RestartAsync();
        var restartedMs = clock.ElapsedMilliseconds;
        Assert.True(restartedMs < TtlMs - 1000, $"the restart ended {restartedMs} ms after the publish: too late to tell anything");

        // Still there right after the restart, not yet dead-lettered.
        Assert.Equal(1u, await scope.ReadyAsync("ttl.src"));
        Assert.Equal(0u, await scope.ReadyAsync("ttl.dead"));

        var (dead, _) = await scope.ConsumeAsync("ttl.dead", autoAck: true);
        var letter = await dead.NextAsync();
        var arrivedMs = clock.ElapsedMilliseconds;

        Assert.Equal("ttl-1", letter.Text);
        Deaths.AssertEntry(Assert.Single(Deaths.XDeath(letter)), 1, "expired", "ttl.src", "", ["ttl.src"], null, before, DateTimeOffset.UtcNow);

        // Due at publish + TTL; a TTL restarted by the restart would be due at restart + TTL or later.
        Assert.True(arrivedMs >= TtlMs - 100, $"dead-lettered {arrivedMs} ms after the publish, before its {TtlMs} ms TTL");
        Assert.True(arrivedMs < restartStartedMs + TtlMs - 400, $"dead-lettered {arrivedMs} ms after the publish, i.e. about TTL after the restart (begun at {restartStartedMs} ms): the TTL did not keep running across the restart");
        Assert.Equal(0u, await scope.ReadyAsync("ttl.src"));
        await Task.Delay(300);
        Assert.False(dead.TryTake(out _), "dead-lettered twice");
    }
}
