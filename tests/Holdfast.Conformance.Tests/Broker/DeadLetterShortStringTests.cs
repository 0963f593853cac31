using Holdfast.Amqp.Codec;
using Holdfast.Conformance.Tests.Support;
using RabbitMQ.Client;

namespace Holdfast.Conformance.Tests.Broker;

/// <summary>
/// <c>x-dead-letter-exchange</c> and <c>x-dead-letter-routing-key</c> arrive as long strings, but a dead-lettered
/// message carries them as its exchange and routing key: short strings on the wire, at most 255 bytes of UTF-8. A
/// queue declared with a longer (or malformed) one made every message it dead-lettered impossible to deliver or fetch.
/// Holdfast refuses such a value at queue.declare with 406. RabbitMQ 3.10 takes it, and later closes the connection
/// of whoever is sent such a message with 541 INTERNAL_ERROR (tried against it: basic.get from the dead-letter queue).
/// </summary>
public sealed class DeadLetterShortStringTests
{
    [Theory]
    [InlineData("x-dead-letter-exchange", "an exchange name")]
    [InlineData("x-dead-letter-routing-key", "a routing key")]
    public async Task A_dead_letter_name_longer_than_a_short_string_is_refused_at_declare_with_406(string argument, string what)
    {
        await using var broker = await InProcessBroker.StartAsync();
        await using var connection = await broker.Factory().CreateConnectionAsync();
        await using var channel = await connection.CreateChannelAsync();
        var name = BrokerKit.Unique("long-dl");
        var arguments = new Dictionary<string, object?> { ["x-dead-letter-exchange"] = "amq.fanout", [argument] = new string('k', 256) };

        if (BrokerKit.IsRabbitMq(connection))
        {
            // The reference takes it (and fails each delivery of such a dead letter later).
            await channel.QueueDeclareAsync(name, durable: false, exclusive: false, autoDelete: true, arguments: arguments);
            return;
        }

        await BrokerKit.RefusedAsync(
            () => channel.QueueDeclareAsync(name, durable: false, exclusive: false, autoDelete: true, arguments: arguments),
            406,
            $"PRECONDITION_FAILED - invalid arg '{argument}' for queue '{name}' in vhost '/': \"{what} is at most 255 bytes (an AMQP short string), this one is 256\"");
        Assert.False(await connection.QueueExistsAsync(name));

        // 255 bytes is a short string still, and a message dead-lettered with it reaches its queue and can be fetched.
        await using var again = await connection.CreateChannelAsync();
        var target = await again.DeclareQueueAsync("dl-target");
        arguments[argument] = new string('k', 255);
        var deadLetterExchange = (string)arguments["x-dead-letter-exchange"]!;
        if (argument == "x-dead-letter-exchange")
        {
            await again.ExchangeDeclareAsync(deadLetterExchange, ExchangeType.Fanout, durable: false, autoDelete: false);
        }

        await again.QueueBindAsync(target, deadLetterExchange, "");

        var source = await again.DeclareQueueAsync("dl-source", arguments);
        await again.PublishAsync("", source, "dead");
        var got = await again.BasicGetAsync(source, autoAck: false);
        await again.BasicRejectAsync(got!.DeliveryTag, requeue: false);
        BasicGetResult? dead = null;
        await BrokerKit.EventuallyAsync(async () => (dead = await again.BasicGetAsync(target, autoAck: true)) is not null, "the dead letter arrives");
        Assert.Equal("dead", BrokerKit.Text(dead!.Body));
        Assert.Equal(deadLetterExchange, dead.Exchange);
        if (argument == "x-dead-letter-routing-key")
        {
            Assert.Equal(new string('k', 255), dead.RoutingKey);
        }
        else
        {
            await again.ExchangeDeleteAsync(deadLetterExchange);
        }

        Assert.True(again.IsOpen && connection.IsOpen);
    }

    [Fact]
    public async Task A_dead_letter_routing_key_that_is_not_utf8_is_refused_at_declare_with_406()
    {
        await using var broker = await InProcessBroker.StartAsync();
        await using var connection = await broker.Factory().CreateConnectionAsync();
        if (BrokerKit.IsRabbitMq(connection))
        {
            // RabbitMQ never looks at a string's encoding.
            return;
        }

        await using var raw = await RawChannel.OpenAsync(broker);
        var name = BrokerKit.Unique("bad-dlrk");
        var arguments = new FieldTable(
            new FieldTableEntry("x-dead-letter-exchange", FieldValue.FromString("amq.fanout")),
            new FieldTableEntry("x-dead-letter-routing-key", FieldValue.FromLongString(new byte[] { 0x6B, 0xFF, 0xFE })));
        await raw.Socket.SendMethodAsync(RawChannel.Number, new QueueDeclare(0, name, Passive: false, Durable: false, Exclusive: false, AutoDelete: true, Nowait: false, arguments));

        var frame = await raw.NextMethodAsync();
        Assert.Equal(AmqpMethodId.ChannelClose, frame.MethodId);
        Assert.True(ChannelClose.TryDecodeArguments(frame.Arguments, out var close, out var error), error.ToString());
        Assert.Equal(406, close.ReplyCode);
        Assert.Equal($"PRECONDITION_FAILED - invalid arg 'x-dead-letter-routing-key' for queue '{name}' in vhost '/': \"a routing key must be valid UTF-8\"", close.ReplyText.ToString());
        Assert.False(await connection.QueueExistsAsync(name));
        await BrokerKit.AssertUsableAsync(connection);
    }
}
