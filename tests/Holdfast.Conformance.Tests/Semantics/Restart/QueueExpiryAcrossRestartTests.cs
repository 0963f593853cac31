using System.Diagnostics;

namespace Holdfast.Conformance.Tests.Semantics.Restart;

/// <summary>x-expires on a durable queue: a restart may end the lease a little late, never early, and never cancel it.</summary>
[Collection(RestartTimingCollection.Name)]
public sealed class QueueExpiryAcrossRestartTests
{
    // A clean restart takes 0.3–2.5 s on a loaded 2-core machine: the lease leaves room for a slow one.
    private const int LeaseMs = 5000;

    [Fact]
    public async Task An_unused_durable_queue_with_x_expires_survives_a_restart_at_1000_ms_and_is_deleted_within_1500_ms_of_its_lease()
    {
        await using var scope = await RestartScope.StartAsync();
        var clock = Stopwatch.StartNew();
        await scope.QueueAsync("exp.q", ("x-expires", LeaseMs));

        await RestartScope.DelayUntilAsync(clock, 1000);
        await scope.RestartAsync();
        var restartedMs = clock.ElapsedMilliseconds;
        Assert.True(restartedMs < LeaseMs - 1000, $"the restart ended {restartedMs} ms after the declare: too late to tell anything");

        // Passive declare does not renew the lease (as in RabbitMQ), so it can probe.
        // Right after the restart, still inside the lease: it must exist (never early).
        Assert.True(await scope.QueueExistsAsync("exp.q"), $"the queue is gone right after the restart ({clock.ElapsedMilliseconds} ms into a {LeaseMs} ms lease)");

        long? goneMs = null;
        while (clock.ElapsedMilliseconds < LeaseMs + 1500)
        {
            if (!await scope.QueueExistsAsync("exp.q"))
            {
                goneMs = clock.ElapsedMilliseconds;
                break;
            }

            await Task.Delay(100);
        }

        Assert.True(goneMs is not null, $"the queue still exists {LeaseMs + 1500} ms after its declare with x-expires {LeaseMs} (restart at 1000 ms)");
        Assert.True(goneMs >= LeaseMs - 100, $"the queue was deleted {goneMs} ms after its declare, before its {LeaseMs} ms lease ran out");

        // The deletion is durable.
        await scope.RestartAsync();
        Assert.False(await scope.QueueExistsAsync("exp.q"), $"the queue (gone at {goneMs} ms) came back after a restart");
    }
}
