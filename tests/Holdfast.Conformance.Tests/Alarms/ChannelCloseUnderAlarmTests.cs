using Holdfast.Conformance.Tests.Broker;
using RabbitMQ.Client;

namespace Holdfast.Conformance.Tests.Alarms;

/// <summary>
/// A connection blocked by a resource alarm is not read, so the broker's own requests to close one of its channels (a
/// delivery that could not be sent) cannot wait for the next read: they used to, and a failed channel stayed open, its
/// consumer registered and its unacked messages held, for as long as the alarm lasted. Now such a close is carried
/// out at once, while the publish that is being held back stays held; if that publish was on the closed channel it is
/// dropped with the channel's other late frames once the alarm clears, and never confirmed.
/// </summary>
public sealed class ChannelCloseUnderAlarmTests
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_channel_the_broker_fails_while_its_connection_is_blocked_closes_at_once_and_the_held_publish_waits_for_the_alarm(bool publishOnFailedChannel)
    {
        await using var alarmed = await MemoryAlarmBroker.StartAsync();
        var broker = alarmed.Broker;

        // Another connection publishes a message whose header only a large frame-max can carry, and holds it unacked.
        await using var other = await broker.Factory().CreateConnectionAsync();
        await using var holder = await other.CreateConfirmingChannelAsync();
        var queue = await holder.DeclareQueueAsync("fails-while-blocked");
        var big = BrokerKit.OversizedHeaders();
        await holder.PublishAsync("", queue, "big", properties: big);
        var held = await holder.BasicGetAsync(queue, autoAck: false);
        Assert.NotNull(held);

        // The small connection consumes on one channel and publishes on that one or another.
        await using var small = await broker.Factory().CreateSmallFrameConnectionAsync();
        await using var consuming = await small.CreateConfirmingChannelAsync();
        var consumer = new ProbeConsumer(consuming);
        await consuming.BasicConsumeAsync(queue, autoAck: false, consumer);
        await using var otherChannel = await small.CreateConfirmingChannelAsync();
        var publishing = publishOnFailedChannel ? consuming : otherChannel;
        var blocked = MemoryAlarmBroker.NextBlockedAsync(small);

        alarmed.Raise();
        var during = publishing.BasicPublishAsync("", queue, mandatory: false, new BasicProperties(), "during"u8.ToArray()).AsTask();

        // connection.blocked is sent as the read loop starts waiting out the alarm instead of taking the publish.
        await blocked.WaitAsync(TimeSpan.FromSeconds(10));

        // The message comes back; the queue offers it to the small connection's consumer, which cannot be sent its header.
        await holder.BasicRejectAsync(held.DeliveryTag, requeue: true);
        var closed = await consuming.ClosedByServerAsync(406);
        Assert.Contains($"frame-max {BrokerKit.SmallFrameMax}", closed.ReplyText, StringComparison.Ordinal);
        Assert.Equal(0, consumer.Received);

        // Still blocked: the publish has not gone through, and only the requeued message is in the queue.
        Assert.True(broker.Server.Alarms!.IsAlarmed);
        Assert.Equal(1u, await other.ReadyCountAsync(queue));
        if (publishOnFailedChannel)
        {
            // The client gives up on the confirm of a publish on a channel that closed.
            await Assert.ThrowsAnyAsync<Exception>(() => during.WaitAsync(BrokerKit.Wait));
        }
        else
        {
            Assert.False(during.IsCompleted, "a publish was confirmed while the memory alarm was raised");
        }

        alarmed.Clear();
        if (!publishOnFailedChannel)
        {
            await during.WaitAsync(TimeSpan.FromSeconds(10));
            Assert.True(publishing.IsOpen, "the publishing channel goes on");
        }

        // The connection is read again and serves a new channel, after everything it sent during the alarm.
        Assert.True(small.IsOpen, "only the failed channel closes, not its connection");
        await BrokerKit.AssertUsableAsync(small);
        Assert.Equal(publishOnFailedChannel ? 1u : 2u, await other.ReadyCountAsync(queue));
    }
}
