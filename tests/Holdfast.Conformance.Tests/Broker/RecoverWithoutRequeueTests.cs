using Holdfast.Amqp.Codec;
using Holdfast.Conformance.Tests.Support;
using RabbitMQ.Client;

namespace Holdfast.Conformance.Tests.Broker;

/// <summary>
/// basic.recover and basic.recover-async with requeue=false: RabbitMQ never implemented redelivery to the
/// original consumer, and closes the connection with 540. RabbitMQ.Client 7 cannot send either method, so a raw socket does.
/// </summary>
public sealed class RecoverWithoutRequeueTests
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Recover_without_requeue_closes_the_connection_with_540_and_the_unacked_message_goes_back(bool asynchronous)
    {
        await using var broker = await InProcessBroker.StartAsync();
        await using var connection = await broker.Factory().CreateConnectionAsync();
        string queue;
        await using (var setup = await connection.CreateConfirmingChannelAsync())
        {
            queue = await setup.DeclareQueueAsync("recover");
            await setup.PublishAsync("", queue, "unacked");
            await setup.CloseAsync();
        }

        await using (var raw = await RawChannel.OpenAsync(broker))
        {
            await raw.Socket.SendMethodAsync(RawChannel.Number, new BasicConsume(0, queue, "raw-consumer", NoLocal: false, NoAck: false, Exclusive: false, Nowait: false, FieldTable.Empty));
            await raw.ExpectAsync(AmqpMethodId.BasicConsumeOk);
            var (_, body) = await raw.ReadDeliveryAsync();
            Assert.Equal("unacked", BrokerKit.Text(body));

            if (asynchronous)
            {
                await raw.Socket.SendMethodAsync(RawChannel.Number, new BasicRecoverAsync(Requeue: false));
            }
            else
            {
                await raw.Socket.SendMethodAsync(RawChannel.Number, new BasicRecover(Requeue: false));
            }

            var close = (await raw.NextMethodAsync()).AsConnectionClose();
            Assert.Equal(540, close.ReplyCode);
            Assert.Equal("NOT_IMPLEMENTED - requeue=false", close.ReplyText.ToString());
            Assert.Equal(60, close.ClassId);
            Assert.Equal(asynchronous ? 100 : 110, close.MethodId);
            await raw.Socket.SendMethodAsync(0, default(ConnectionCloseOk));
        }

        // Closing the connection released the delivery, as any close does: nothing was dropped.
        await BrokerKit.EventuallyAsync(async () => await connection.ReadyCountAsync(queue) == 1, "the unacked message is ready again");
        await using var cleanup = await connection.CreateChannelAsync();
        Assert.Equal(["unacked"], await cleanup.DrainAsync(queue));
        await cleanup.QueueDeleteAsync(queue);
    }
}
