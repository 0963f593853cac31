using System.Text;
using Holdfast.Broker.Messages;
using Holdfast.Broker.Topology;
using Holdfast.Testing;

namespace Holdfast.Broker.Tests.Semantics;

/// <summary>
/// Dead-lettering and delayed release move a message from one stored queue to another. With the
/// move's fsync held, the new queue must not show the message yet (a consumer could see a copy the
/// crash then takes back, and the old copy would be moved again, unmarked), and a crash at that
/// moment must leave the message where it was, once; after the fsync, it is in the new queue only.
/// </summary>
public sealed class MoveDurabilityTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);

    // Long enough for a wrongly early enqueue (which happens before the write is awaited) to show.
    private static readonly TimeSpan Settle = TimeSpan.FromMilliseconds(150);

    [Fact]
    public async Task A_dead_letter_reaches_its_target_only_once_its_move_is_on_disk_and_a_crash_before_leaves_it_in_the_source()
    {
        var device = new FaultyDevice();
        await using var harness = await StartWithDeadLetteringAsync(device);
        var (consumer, consumed) = harness.OpenChannel(connectionId: 2);
        consumer.Consume("target", "watcher", noAck: false, exclusive: false, _ => { });
        var (channel, _) = harness.OpenChannel();
        var got = channel.Get("source", noAck: false)!;

        var stall = device.StallNextFsync("log/");
        try
        {
            channel.Reject(got.DeliveryTag, multiple: false, requeue: false);
            await stall.WaitUntilHeldAsync(Wait);
            await Task.Delay(Settle);

            Assert.Empty(consumed.Deliveries);
            Assert.Equal(0, harness.Vhost.FindQueue("target")!.ReadyCount);

            await harness.CrashAsync(stall);
        }
        finally
        {
            stall.Release(); // A failed assertion must not leave the store's writer held (disposing would wait for it).
        }

        Assert.Equal(1, harness.Vhost.FindQueue("source")!.ReadyCount);
        Assert.Equal(0, harness.Vhost.FindQueue("target")!.ReadyCount);
        var (after, _) = harness.OpenChannel();
        var again = after.Get("source", noAck: true)!;
        Assert.Equal("poison", Encoding.UTF8.GetString(again.Message.Body.Span));
        Assert.True(again.Redelivered);
    }

    [Fact]
    public async Task A_dead_letter_whose_move_is_on_disk_is_in_the_target_only_after_a_crash()
    {
        var device = new FaultyDevice();
        await using var harness = await StartWithDeadLetteringAsync(device);
        var (channel, _) = harness.OpenChannel();
        var got = channel.Get("source", noAck: false)!;

        var stall = device.StallNextFsync("log/");
        channel.Reject(got.DeliveryTag, multiple: false, requeue: false);
        await stall.WaitUntilHeldAsync(Wait);
        stall.Release();
        await Eventually.TrueAsync(() => harness.Vhost.FindQueue("target")!.ReadyCount == 1, Wait, "the dead letter in its target");

        await harness.CrashAsync();

        Assert.Equal(0, harness.Vhost.FindQueue("source")!.ReadyCount);
        Assert.Equal(1, harness.Vhost.FindQueue("target")!.ReadyCount);
        var (after, _) = harness.OpenChannel();
        var letter = after.Get("target", noAck: true)!;
        Assert.Equal("poison", Encoding.UTF8.GetString(letter.Message.Body.Span));
        Assert.True(letter.Message.Properties.Headers!.TryGetHeader("x-death", out _));
    }

    [Fact]
    public async Task A_delayed_message_is_released_only_once_its_move_is_on_disk_and_a_crash_before_keeps_it_held()
    {
        var device = new FaultyDevice();
        await using var harness = await BrokerHarness.StartOnAsync(device);
        await harness.DeclareQueueAsync("later");
        await harness.Vhost.BindQueueAsync("later", "amq.direct", "k", TopologyArguments.Empty, 1);
        var (consumer, consumed) = harness.OpenChannel(connectionId: 2);
        consumer.Consume("later", "watcher", noAck: false, exclusive: false, _ => { });
        var (channel, events) = harness.OpenChannel();
        channel.SelectConfirms();
        channel.Publish(BrokerHarness.Message("amq.direct", "k", "wake me", headers: new MessageHeaders([new("x-delay", 5000L)])), mandatory: true);
        await Eventually.TrueAsync(() => events.Confirms.Count == 1, Wait, "the held message confirmed");

        var stall = device.StallNextFsync("log/");
        try
        {
            harness.Clock.Advance(TimeSpan.FromMilliseconds(5001));
            await stall.WaitUntilHeldAsync(Wait);
            await Task.Delay(Settle);

            Assert.Empty(consumed.Deliveries);
            Assert.Equal(0, harness.Vhost.FindQueue("later")!.ReadyCount);

            await harness.CrashAsync(stall);
        }
        finally
        {
            stall.Release();
        }

        // Still held, and due: released once, now.
        await Eventually.TrueAsync(() => harness.Vhost.FindQueue("later")!.ReadyCount == 1, Wait, "the held message released after the restart");
        Assert.Equal(0, harness.Vhost.DelayedCount);
        await harness.CrashAsync();
        Assert.Equal(0, harness.Vhost.DelayedCount);
        Assert.Equal(1, harness.Vhost.FindQueue("later")!.ReadyCount);
    }

    private static async Task<BrokerHarness> StartWithDeadLetteringAsync(FaultyDevice device)
    {
        var harness = await BrokerHarness.StartOnAsync(device);
        await harness.DeclareQueueAsync("target");
        await harness.Vhost.BindQueueAsync("target", "amq.direct", "dead", TopologyArguments.Empty, 1);
        await harness.DeclareQueueAsync("source", durable: true, ("x-dead-letter-exchange", "amq.direct"), ("x-dead-letter-routing-key", "dead"));
        var (channel, events) = harness.OpenChannel();
        channel.SelectConfirms();
        channel.Publish(BrokerHarness.Message(string.Empty, "source", "poison"), mandatory: true);
        await Eventually.TrueAsync(() => events.Confirms.Count == 1, Wait, "the message confirmed");
        return harness;
    }
}
