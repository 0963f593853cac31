using Holdfast.Conformance.Tests.Broker;
using Holdfast.Conformance.Tests.Support;
using RabbitMQ.Client;

namespace Holdfast.Conformance.Tests.Alarms;

/// <summary>
/// An ack leaves offering the next message to the room it made until its run of acks ends. The run ends at the next
/// frame of another kind too, not only when the socket read is used up: a publish held by a resource alarm right
/// after the ack (the same read, as here) must not hold the delivery the ack made room for until the alarm clears.
/// </summary>
public sealed class AckBeforeHeldPublishTests
{
    [Fact]
    public async Task The_delivery_an_ack_makes_room_for_goes_out_while_a_publish_after_it_is_held_by_an_alarm()
    {
        await using var alarmed = await MemoryAlarmBroker.StartAsync();
        var broker = alarmed.Broker;
        await using var setup = await broker.Factory().CreateConnectionAsync();
        await using var filler = await setup.CreateConfirmingChannelAsync();
        var queue = await filler.DeclareQueueAsync("ack-then-held-publish");
        await filler.PublishAsync("", queue, "first");
        await filler.PublishAsync("", queue, "second");

        // One connection consumes one message at a time on one channel and publishes on another.
        await using var connection = await broker.Factory().CreateConnectionAsync();
        await using var consuming = await connection.CreateChannelAsync();
        await consuming.BasicQosAsync(0, 1, global: false);
        var consumer = new ProbeConsumer(consuming);
        await consuming.BasicConsumeAsync(queue, autoAck: false, consumer);
        await using var publishing = await connection.CreateConfirmingChannelAsync();
        var blocked = MemoryAlarmBroker.NextBlockedAsync(connection);

        var first = await consumer.NextAsync();
        Assert.Equal("first", first.Text);

        alarmed.Raise();

        // Back to back, so that both usually arrive in one read: the ack, then a publish the alarm holds.
        var ack = consuming.BasicAckAsync(first.DeliveryTag, multiple: false).AsTask();
        var during = publishing.BasicPublishAsync("", queue, mandatory: false, new BasicProperties(), "during"u8.ToArray()).AsTask();
        await ack;
        await blocked.WaitAsync(BrokerKit.Wait);

        var second = await consumer.NextAsync();
        Assert.Equal("second", second.Text);
        Assert.True(broker.Server.Alarms!.IsAlarmed);
        Assert.False(during.IsCompleted, "a publish was confirmed while the memory alarm was raised");

        alarmed.Clear();
        await during.WaitAsync(BrokerKit.Wait);
        await consuming.BasicAckAsync(second.DeliveryTag, multiple: false);
        Assert.Equal("during", (await consumer.NextAsync()).Text);
    }

    [Fact]
    public async Task Acks_on_two_channels_read_together_refill_both_consumers()
    {
        await using var broker = await InProcessBroker.StartAsync();
        await using var connection = await broker.Factory().CreateConnectionAsync();
        await using var setup = await connection.CreateConfirmingChannelAsync();
        var queues = new[] { await setup.DeclareQueueAsync("left"), await setup.DeclareQueueAsync("right") };
        foreach (var queue in queues)
        {
            for (var i = 0; i < 20; i++)
            {
                await setup.PublishAsync("", queue, $"{queue}-{i}");
            }
        }

        var channels = new List<IChannel>();
        var consumers = new List<ProbeConsumer>();
        try
        {
            foreach (var queue in queues)
            {
                var channel = await connection.CreateChannelAsync();
                channels.Add(channel);
                await channel.BasicQosAsync(0, 1, global: false);
                var consumer = new ProbeConsumer(channel);
                consumers.Add(consumer);
                await channel.BasicConsumeAsync(queue, autoAck: false, consumer);
            }

            // Prefetch 1: each next message comes only once the ack before it has been dispatched on.
            for (var i = 0; i < 20; i++)
            {
                var left = await consumers[0].NextAsync();
                var right = await consumers[1].NextAsync();
                Assert.Equal($"{queues[0]}-{i}", left.Text);
                Assert.Equal($"{queues[1]}-{i}", right.Text);
                await Task.WhenAll(
                    channels[0].BasicAckAsync(left.DeliveryTag, multiple: false).AsTask(),
                    channels[1].BasicAckAsync(right.DeliveryTag, multiple: false).AsTask());
            }

            Assert.Equal(0u, await connection.ReadyCountAsync(queues[0]));
            Assert.Equal(0u, await connection.ReadyCountAsync(queues[1]));
        }
        finally
        {
            foreach (var channel in channels)
            {
                await channel.DisposeAsync();
            }
        }
    }
}
