using System.Buffers;
using Holdfast.Amqp.Codec;
using Holdfast.Amqp.Framing;
using Holdfast.Conformance.Tests.Support;
using RabbitMQ.Client;
using AmqpProperties = Holdfast.Amqp.Codec.BasicProperties;

namespace Holdfast.Conformance.Tests.Broker;

/// <summary>
/// A short string that is not UTF-8 (a routing key, a header name, a consumer tag, a queue name) is refused with 502
/// SYNTAX_ERROR when it arrives. It used to be taken in as a string with U+FFFD for each bad byte, three bytes each, so
/// that 100 bad bytes became 300: the basic.deliver (or consume-ok, or declare-ok) carrying it could never be encoded,
/// and the throw went up through whoever happened to be dispatching (the publisher's connection died of an internal
/// error, the message stayed "delivered" to a consumer that never got it). RabbitMQ.Client 7 always sends UTF-8, so
/// the bad input comes from a raw socket; the consumers watching are the real client.
/// </summary>
public sealed class InvalidUtf8NameTests
{
    private static readonly byte[] NotUtf8 = [.. Enumerable.Repeat((byte)0xFF, 100)];

    public enum Field
    {
        RoutingKey,
        HeaderName,
        ConsumerTag,
        QueueName,
    }

    [Theory]
    [InlineData(Field.RoutingKey)]
    [InlineData(Field.HeaderName)]
    [InlineData(Field.ConsumerTag)]
    [InlineData(Field.QueueName)]
    public async Task A_short_string_that_is_not_utf8_closes_its_connection_with_502_and_nothing_else_is_touched(Field field)
    {
        await using var broker = await InProcessBroker.StartAsync();
        await using var connection = await broker.Factory().CreateConnectionAsync();
        await using var channel = await connection.CreateChannelAsync();
        var queue = await channel.DeclareQueueAsync("utf8");
        await channel.QueueBindAsync(queue, "amq.fanout", "");
        var consumer = new ProbeConsumer(channel);
        await channel.BasicConsumeAsync(queue, autoAck: false, consumer);

        await using var raw = await RawChannel.OpenAsync(broker);
        switch (field)
        {
            case Field.RoutingKey:
                var output = new ArrayBufferWriter<byte>();
                FrameWriter.WriteContent(output, RawChannel.Number, new BasicPublish(0, "amq.fanout", new ShortString(NotUtf8), Mandatory: false, Immediate: false), new AmqpProperties(), new ReadOnlySequence<byte>("bad key"u8.ToArray()), RawChannel.FrameMax);
                await raw.Socket.SendAsync(output.WrittenMemory);
                break;
            case Field.HeaderName:
                var headers = new FieldTable(new FieldTableEntry(new ShortString(NotUtf8), FieldValue.FromInt32(1)));
                await raw.PublishAsync("amq.fanout", "k", mandatory: false, new AmqpProperties { Headers = headers }, "bad header"u8.ToArray());
                break;
            case Field.ConsumerTag:
                await raw.Socket.SendMethodAsync(RawChannel.Number, new BasicConsume(0, queue, new ShortString(NotUtf8), NoLocal: false, NoAck: false, Exclusive: false, Nowait: false, FieldTable.Empty));
                break;
            default:
                await raw.Socket.SendMethodAsync(RawChannel.Number, new QueueDeclare(0, new ShortString(NotUtf8), Passive: false, Durable: false, Exclusive: false, AutoDelete: true, Nowait: false, FieldTable.Empty));
                break;
        }

        if (BrokerKit.IsRabbitMq(connection))
        {
            // RabbitMQ takes short strings as bytes and never looks at their encoding.
            return;
        }

        var close = (await raw.NextMethodAsync()).AsConnectionClose();
        Assert.Equal(502, close.ReplyCode);
        Assert.Contains("not valid UTF-8", close.ReplyText.ToString(), StringComparison.Ordinal);

        // Nothing of it got in: the queue is as it was, and the consumer's channel goes on receiving.
        Assert.Equal(0u, await connection.ReadyCountAsync(queue));
        await channel.BasicPublishAsync("amq.fanout", "", "fine"u8.ToArray());
        var delivery = await consumer.NextAsync();
        Assert.Equal("fine", delivery.Text);
        Assert.False(delivery.Redelivered);
        Assert.Equal(1ul, delivery.DeliveryTag);
        Assert.True(channel.IsOpen && connection.IsOpen);
        if (!broker.IsExternal)
        {
            Assert.DoesNotContain(broker.Server.Broker.GetVirtualHost("/").Queues, q => q.Name.Contains('\uFFFD', StringComparison.Ordinal));
        }
    }
}
