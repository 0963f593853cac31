using Holdfast.Testing;

namespace Holdfast.Broker.Tests.Semantics;

/// <summary>x-expires: a queue unused for the period is deleted; consumers, basic.get and redeclares keep it; the lease survives restarts.</summary>
public sealed class QueueExpiryTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task An_unused_queue_is_deleted_after_its_expiry_and_use_renews_the_lease()
    {
        await using var harness = await BrokerHarness.StartAsync();
        await harness.DeclareQueueAsync("lease", true, ("x-expires", 10_000));
        var (channel, _) = harness.OpenChannel();

        harness.Clock.Advance(TimeSpan.FromSeconds(8));
        Assert.Null(channel.Get("lease", noAck: true)); // A get is a use: the lease restarts.
        harness.Clock.Advance(TimeSpan.FromSeconds(8));
        Assert.NotNull(harness.Vhost.FindQueue("lease"));

        // A consumer holds the queue as long as it stays, however long.
        channel.Consume("lease", "c", noAck: true, exclusive: false, _ => { });
        harness.Clock.Advance(TimeSpan.FromSeconds(60));
        Assert.NotNull(harness.Vhost.FindQueue("lease"));

        channel.Cancel("c");
        harness.Clock.Advance(TimeSpan.FromSeconds(9));
        Assert.NotNull(harness.Vhost.FindQueue("lease"));
        harness.Clock.Advance(TimeSpan.FromSeconds(2));
        await Eventually.TrueAsync(() => harness.Vhost.FindQueue("lease") is null, Wait, "the expired queue deleted");
    }

    [Fact]
    public async Task The_lease_survives_a_restart_with_its_remaining_time_and_never_ends_early()
    {
        await using var harness = await BrokerHarness.StartAsync();
        await harness.DeclareQueueAsync("lease", true, ("x-expires", 60_000));
        harness.OpenChannel().Channel.Publish(BrokerHarness.Message("", "lease", "inside"), mandatory: true);
        harness.Clock.Advance(TimeSpan.FromSeconds(40));

        await harness.RestartAsync();
        harness.Clock.Advance(TimeSpan.FromSeconds(19));
        Assert.NotNull(harness.Vhost.FindQueue("lease"));

        // 60 s after the declare, plus at most one recording interval (1 s), it goes, messages and all.
        harness.Clock.Advance(TimeSpan.FromSeconds(3));
        await Eventually.TrueAsync(() => harness.Vhost.FindQueue("lease") is null, Wait, "the queue expiring on its original schedule");
        await harness.RestartAsync();
        Assert.Null(harness.Vhost.FindQueue("lease"));
    }
}
