using System.Diagnostics;

namespace Holdfast.Conformance.Tests.Semantics.Restart;

/// <summary>x-expires on a durable queue: a restart may end the lease a little late, never early, and never cancel it.</summary>
[Collection(RestartTimingCollection.Name)]
public sealed class QueueExpiryAcrossRestartTests
{
    [Fact]
    public async Task An_unused_durable_queue_with_x_expires_2000_survives_a_restart_at_1000_ms_and_is_deleted_by_3500_ms()
    {
        await using var scope = await RestartScope.StartAsync();
        var clock = Stopwatch.StartNew();
        await scope.QueueAsync("exp.q", ("x-expires", 2000));

        await RestartScope.DelayUntilAsync(clock, 1000);
        await scope.RestartAsync();
        var restartedMs = clock.ElapsedMilliseconds;
        Assert.True(restartedMs < 1850, $"the restart ended {restartedMs} ms after the declare: too late to tell anything");

        // Passive declare does not renew the lease (as in RabbitMQ), so it can probe.
        // Right after the restart, still inside the 2000 ms lease: it must exist (never early).
        Assert.True(await scope.QueueExistsAsync("exp.q"), $"the queue is gone right after the restart ({clock.ElapsedMilliseconds} ms into a 2000 ms lease)");

        long? goneMs = null;
        while (clock.ElapsedMilliseconds < 3500)
        {
            if (!await scope.QueueExistsAsync("exp.q"))
            {
                goneMs = clock.ElapsedMilliseconds;
                break;
            }

            await Task.Delay(100);
        }

        Assert.True(goneMs is not null, "the queue still exists 3500 ms after its declare with x-expires 2000 (restart at 1000 ms)");

        // The deletion is durable.
        await scope.RestartAsync();
        Assert.False(await scope.QueueExistsAsync("exp.q"), $"the queue (gone at {goneMs} ms) came back after a restart");
    }
}
