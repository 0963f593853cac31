using Holdfast.Broker.Messages;
using Holdfast.Testing;

namespace Holdfast.Broker.Tests.Semantics;

/// <summary>x-delay: messages held durably until their time, then routed; restarts and crashes do not lose them.</summary>
public sealed class DelayedMessageTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task A_message_with_x_delay_is_routed_only_when_its_time_comes()
    {
        await using var harness = await BrokerHarness.StartAsync();
        await harness.DeclareQueueAsync("later");
        await harness.Vhost.BindQueueAsync("later", "amq.direct", "k", Topology.TopologyArguments.Empty, 1);
        var (channel, events) = harness.OpenChannel();
        channel.SelectConfirms();
        channel.Publish(Delayed("amq.direct", "k", "wake me", 5000), mandatory: true);

        // Confirmed once held (stored), not once delivered.
        await Eventually.TrueAsync(() => events.Confirms.Count == 1, Wait, "the held message confirmed");
        Assert.True(events.Confirms.Single().Ack);
        Assert.Equal(1, harness.Vhost.DelayedCount);
        var later = harness.Vhost.FindQueue("later")!;
        harness.Clock.Advance(TimeSpan.FromMilliseconds(4999));
        Assert.Equal(0, later.ReadyCount);

        harness.Clock.Advance(TimeSpan.FromMilliseconds(2));
        await Eventually.TrueAsync(() => later.ReadyCount == 1, Wait, "the message routed at its time");
        Assert.Equal(0, harness.Vhost.DelayedCount);
    }

    [Fact]
    public async Task Persistent_delayed_messages_survive_a_restart_and_transient_ones_do_not()
    {
        await using var harness = await BrokerHarness.StartAsync();
        await harness.DeclareQueueAsync("later");
        await harness.Vhost.BindQueueAsync("later", "amq.direct", "k", Topology.TopologyArguments.Empty, 1);
        var (channel, _) = harness.OpenChannel();
        channel.Publish(Delayed("amq.direct", "k", "kept", 60_000), mandatory: true);
        channel.Publish(Delayed("amq.direct", "k", "transient", 60_000, persistent: false), mandatory: true);
        await Eventually.TrueAsync(() => harness.Vhost.DelayedCount == 2, Wait, "both messages held");
        harness.Clock.Advance(TimeSpan.FromSeconds(30));

        await harness.RestartAsync();
        Assert.Equal(1, harness.Vhost.DelayedCount);
        var later = harness.Vhost.FindQueue("later")!;
        harness.Clock.Advance(TimeSpan.FromSeconds(29));
        Assert.Equal(0, later.ReadyCount);

        harness.Clock.Advance(TimeSpan.FromSeconds(2));
        await Eventually.TrueAsync(() => later.ReadyCount == 1, Wait, "the kept message released 60 s after it was published");
        var (after, _) = harness.OpenChannel();
        Assert.Equal("kept", System.Text.Encoding.UTF8.GetString(after.Get("later", noAck: true)!.Message.Body.Span));

        // Released and acked: a further restart does not release it twice.
        await Eventually.TrueAsync(() => harness.Broker.Store.Queues.Where(q => q.Name.StartsWith("~delayed/", StringComparison.Ordinal)).Sum(q => q.MessageCount) == 0, Wait, "the held copy acked");
        await harness.RestartAsync();
        Assert.Equal(0, harness.Vhost.DelayedCount);
    }

    [Fact]
    public async Task A_delayed_message_a_full_queue_refuses_stays_held_and_is_released_once_there_is_room()
    {
        await using var harness = await BrokerHarness.StartAsync();
        await harness.DeclareQueueAsync("later", true, ("x-max-length", 1), ("x-overflow", "reject-publish"));
        await harness.Vhost.BindQueueAsync("later", "amq.direct", "k", Topology.TopologyArguments.Empty, 1);
        var (channel, events) = harness.OpenChannel();
        channel.SelectConfirms();
        channel.Publish(BrokerHarness.Message("amq.direct", "k", "occupant"), mandatory: true);
        channel.Publish(Delayed("amq.direct", "k", "confirmed, then refused", 1000), mandatory: true);
        await Eventually.TrueAsync(() => events.Acked(1) && events.Acked(2), Wait, "both confirmed");
        var later = harness.Vhost.FindQueue("later")!;

        harness.Clock.Advance(TimeSpan.FromMilliseconds(1001));
        await Eventually.TrueAsync(() => harness.Vhost.DelayedRefusals == 1, Wait, "the release refused");
        await Eventually.TrueAsync(() => harness.Vhost.DelayedCount == 1, Wait, "the refused message held again");
        Assert.Equal(1, later.ReadyCount);

        Assert.Equal("occupant", System.Text.Encoding.UTF8.GetString(channel.Get("later", noAck: true)!.Message.Body.Span));
        harness.Clock.Advance(TimeSpan.FromSeconds(5));
        await Eventually.TrueAsync(() => later.ReadyCount == 1 && harness.Vhost.DelayedCount == 0, Wait, "released once there was room");
        Assert.Equal("confirmed, then refused", System.Text.Encoding.UTF8.GetString(channel.Get("later", noAck: true)!.Message.Body.Span));
    }

    private static BrokerMessage Delayed(string exchange, string key, string body, long delayMs, bool persistent = true) =>
        BrokerHarness.Message(exchange, key, body, persistent, headers: new MessageHeaders([new("x-delay", delayMs)]));
}
