using Holdfast.Broker.Messages;
using Holdfast.Testing;

namespace Holdfast.Broker.Tests.Semantics;

/// <summary>
/// An x-delay longer than a timer can wait (uint.MaxValue - 1 ms, about 49.7 days). The scheduler used to arm its timer
/// with the whole delay, which threw after the message was stored and held: the publisher was nacked (or, once the
/// delayed index existed, its channel closed with 406) and published again, while the first copy was still released
/// when due. Now the timer waits at most its longest and looks again, so the delay is held, confirmed and kept.
/// </summary>
public sealed class FarDelayTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);

    private static readonly TimeSpan Far = TimeSpan.FromDays(60);

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_delay_past_the_longest_timer_is_confirmed_and_released_only_at_its_time(bool indexExists)
    {
        await using var harness = await BrokerHarness.StartAsync();
        var later = await DeclareLaterAsync(harness);
        var (channel, events) = harness.OpenChannel();
        channel.SelectConfirms();
        if (indexExists)
        {
            // A first delayed message creates the delayed index, so the far one takes the path that finds it there.
            channel.Publish(Delayed("soon", 1000), mandatory: true);
            await Eventually.TrueAsync(() => events.Acked(1), Wait, "the first delayed message confirmed");
            harness.Clock.Advance(TimeSpan.FromMilliseconds(1000));
            await Eventually.TrueAsync(() => later.ReadyCount == 1, Wait, "the first delayed message released");
            Assert.Equal("soon", Body(channel.Get("later", noAck: true)));
        }

        var sequence = indexExists ? 2ul : 1ul;
        channel.Publish(Delayed("far", (long)Far.TotalMilliseconds), mandatory: true);

        await Eventually.TrueAsync(() => events.Confirms.Any(c => c.Sequence >= sequence), Wait, "the far message confirmed");
        Assert.True(events.Acked(sequence), "the far message was nacked");
        Assert.Empty(events.Failures);
        Assert.Equal(1, harness.Vhost.DelayedCount);

        // Past the longest a timer waits, and to a millisecond before its time: still held.
        harness.Clock.Advance(TimeSpan.FromDays(50));
        Assert.Equal(1, harness.Vhost.DelayedCount);
        harness.Clock.Advance(Far - TimeSpan.FromDays(50) - TimeSpan.FromMilliseconds(1));
        Assert.Equal(0, later.ReadyCount);
        Assert.Equal(1, harness.Vhost.DelayedCount);

        harness.Clock.Advance(TimeSpan.FromMilliseconds(2));
        await Eventually.TrueAsync(() => later.ReadyCount == 1 && harness.Vhost.DelayedCount == 0, Wait, "the far message released at its time");
        Assert.Equal("far", Body(channel.Get("later", noAck: true)));
    }

    [Fact]
    public async Task A_far_delay_survives_a_restart_and_is_released_once_at_its_time()
    {
        await using var harness = await BrokerHarness.StartAsync();
        await DeclareLaterAsync(harness);
        var (channel, events) = harness.OpenChannel();
        channel.SelectConfirms();
        channel.Publish(Delayed("far", (long)Far.TotalMilliseconds), mandatory: true);
        await Eventually.TrueAsync(() => events.Confirms.Count == 1, Wait, "the far message confirmed");
        Assert.True(events.Acked(1));
        harness.Clock.Advance(TimeSpan.FromDays(30));

        await harness.RestartAsync();
        Assert.Equal(1, harness.Vhost.DelayedCount);
        var later = harness.Vhost.FindQueue("later")!;
        harness.Clock.Advance(TimeSpan.FromDays(30) - TimeSpan.FromMilliseconds(1));
        Assert.Equal(0, later.ReadyCount);

        harness.Clock.Advance(TimeSpan.FromMilliseconds(2));
        await Eventually.TrueAsync(() => later.ReadyCount == 1, Wait, "the far message released 60 days after it was published");
        var (after, _) = harness.OpenChannel();
        Assert.Equal("far", Body(after.Get("later", noAck: true)));

        await Eventually.TrueAsync(() => harness.Broker.Store.Queues.Where(q => q.Name.StartsWith("~delayed/", StringComparison.Ordinal)).Sum(q => q.MessageCount) == 0, Wait, "the held copy acked");
        await harness.RestartAsync();
        Assert.Equal(0, harness.Vhost.DelayedCount);
    }

    [Fact]
    public async Task A_delay_too_long_to_add_to_the_clock_is_held_not_released_at_once()
    {
        await using var harness = await BrokerHarness.StartAsync();
        var later = await DeclareLaterAsync(harness);
        var (channel, events) = harness.OpenChannel();
        channel.SelectConfirms();

        // Added to the clock's milliseconds this used to wrap round to a due time in the past.
        channel.Publish(Delayed("forever", long.MaxValue), mandatory: true);
        await Eventually.TrueAsync(() => events.Confirms.Count == 1, Wait, "the message confirmed");
        Assert.True(events.Acked(1));

        harness.Clock.Advance(TimeSpan.FromDays(365));
        Assert.Equal(0, later.ReadyCount);
        Assert.Equal(1, harness.Vhost.DelayedCount);

        await harness.RestartAsync();
        Assert.Equal(1, harness.Vhost.DelayedCount);
        Assert.Equal(0, harness.Vhost.FindQueue("later")!.ReadyCount);
    }

    private static async Task<Queues.MessageQueue> DeclareLaterAsync(BrokerHarness harness)
    {
        await harness.DeclareQueueAsync("later");
        await harness.Vhost.BindQueueAsync("later", "amq.direct", "k", Topology.TopologyArguments.Empty, 1);
        return harness.Vhost.FindQueue("later")!;
    }

    private static BrokerMessage Delayed(string body, long delayMs) =>
        BrokerHarness.Message("amq.direct", "k", body, headers: new MessageHeaders([new("x-delay", delayMs)]));

    private static string Body(Sessions.GetResult? got) => System.Text.Encoding.UTF8.GetString(got!.Message.Body.Span);
}
