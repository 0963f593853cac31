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

    private static BrokerMessage Delayed(string exchange, string key, string body, long delayMs, bool persistent = true) =>
        BrokerHarness.Message(exchange, key, body, persistent, headers: new MessageHeaders([new("x-delay", delayMs)]));
}
