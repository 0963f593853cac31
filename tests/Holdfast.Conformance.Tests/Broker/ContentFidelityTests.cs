using Holdfast.Amqp.Codec;
using Holdfast.Conformance.Tests.Support;

namespace Holdfast.Conformance.Tests.Broker;

/// <summary>
/// Content headers on the wire: what a publisher sends is what the broker hands out, byte for byte, with every
/// field-table type RabbitMQ knows (including those RabbitMQ.Client cannot write, and empty tables and arrays,
/// which it cannot read back). Raw sockets on both sides, so no client library normalises anything.
/// </summary>
public sealed class ContentFidelityTests
{
    private static BasicProperties EveryProperty()
    {
        var nested = new FieldTable(
            new FieldTableEntry("deeper", FieldValue.FromTable(new FieldTable(new FieldTableEntry("deepest", FieldValue.FromInt64(-1))))),
            new FieldTableEntry("list", FieldValue.FromArray(new FieldArray(FieldValue.FromFloat64(1.25), FieldValue.FromDecimal(new AmqpDecimal(0, 7))))));
        var headers = new FieldTable(
            new FieldTableEntry("bool", FieldValue.FromBoolean(true)),
            new FieldTableEntry("int8", FieldValue.FromInt8(-8)),
            new FieldTableEntry("uint8", FieldValue.FromUInt8(200)),
            new FieldTableEntry("int16", FieldValue.FromInt16(-16000)),
            new FieldTableEntry("uint16", FieldValue.FromUInt16(60000)),
            new FieldTableEntry("int32", FieldValue.FromInt32(int.MinValue)),
            new FieldTableEntry("uint32", FieldValue.FromUInt32(uint.MaxValue)),
            new FieldTableEntry("int64", FieldValue.FromInt64(long.MinValue)),
            new FieldTableEntry("float32", FieldValue.FromFloat32(1.25f)),
            new FieldTableEntry("float64", FieldValue.FromFloat64(-2.5e300)),
            new FieldTableEntry("decimal", FieldValue.FromDecimal(new AmqpDecimal(3, 12345))),
            new FieldTableEntry("string", FieldValue.FromString("ünïcødé ✓")),
            new FieldTableEntry("binary-long-string", FieldValue.FromLongString(new byte[] { 0, 0xff, 0xfe, 0x80 })),
            new FieldTableEntry("byte-array", FieldValue.FromByteArray(new byte[] { 0xde, 0xad, 0, 0xef })),
            new FieldTableEntry("timestamp", FieldValue.FromTimestamp(new AmqpTimestamp(1_700_000_000))),
            new FieldTableEntry("void", FieldValue.Void),
            new FieldTableEntry("array", FieldValue.FromArray(new FieldArray(
                FieldValue.FromInt32(1), FieldValue.FromString("two"), FieldValue.Void, FieldValue.FromArray(FieldArray.Empty), FieldValue.FromTable(FieldTable.Empty)))),
            new FieldTableEntry("empty-array", FieldValue.FromArray(FieldArray.Empty)),
            new FieldTableEntry("empty-table", FieldValue.FromTable(FieldTable.Empty)),
            new FieldTableEntry("table", FieldValue.FromTable(nested)),
            new FieldTableEntry("", FieldValue.FromString("empty key")));
        return new BasicProperties
        {
            ContentType = "application/octet-stream",
            ContentEncoding = "identity",
            Headers = headers,
            DeliveryMode = 2,
            Priority = 9,
            CorrelationId = "correlation",
            ReplyTo = "reply-to",
            Expiration = "600000",
            MessageId = "message-id",
            Timestamp = new AmqpTimestamp(1_234_567_890),
            Type = "type",
            UserId = "guest",
            AppId = "app",
            ClusterId = "cluster",
        };
    }

    [Fact]
    public async Task Content_headers_and_bodies_come_back_byte_identical_in_get_ok_deliver_and_return()
    {
        await using var broker = await InProcessBroker.StartAsync();
        await using var connection = await broker.Factory().CreateConnectionAsync();
        await using var channel = await connection.CreateChannelAsync();
        var queue = await channel.DeclareQueueAsync();
        await using var raw = await RawChannel.OpenAsync(broker);
        var properties = EveryProperty();
        var body = MessageShape.Body(300_000, seed: 3); // three body frames at frame-max 128 KiB
        var unroutable = BrokerKit.Unique("nobody");

        var sent = await raw.PublishAsync("", queue, mandatory: false, properties, body);
        await raw.PublishAsync("", queue, mandatory: false, properties, body);
        await raw.PublishAsync("", unroutable, mandatory: true, properties, body);

        var returned = await raw.ReadContentAsync(AmqpMethodId.BasicReturn);
        Assert.True(BasicReturn.TryDecodeArguments(returned.Method.Arguments, out var ret, out _));
        Assert.Equal((312, "NO_ROUTE", "", unroutable), (ret.ReplyCode, ret.ReplyText.ToString(), ret.Exchange.ToString(), ret.RoutingKey.ToString()));
        Assert.Equal(Convert.ToHexString(sent), Convert.ToHexString(returned.Header));
        Assert.True(body.AsSpan().SequenceEqual(returned.Body), "returned body differs");

        await raw.Socket.SendMethodAsync(RawChannel.Number, new BasicGet(0, queue, NoAck: true));
        var got = await raw.ReadContentAsync(AmqpMethodId.BasicGetOk);
        Assert.Equal(Convert.ToHexString(sent), Convert.ToHexString(got.Header));
        Assert.True(body.AsSpan().SequenceEqual(got.Body), "basic.get-ok body differs");

        await raw.Socket.SendMethodAsync(RawChannel.Number, new BasicConsume(0, queue, "fidelity", NoLocal: false, NoAck: true, Exclusive: false, Nowait: false, FieldTable.Empty));
        await raw.ExpectAsync(AmqpMethodId.BasicConsumeOk);
        var delivered = await raw.ReadContentAsync(AmqpMethodId.BasicDeliver);
        Assert.Equal(Convert.ToHexString(sent), Convert.ToHexString(delivered.Header));
        Assert.True(body.AsSpan().SequenceEqual(delivered.Body), "basic.deliver body differs");

        // And the content header decodes to what was sent.
        Assert.True(ContentHeader.TryDecode(delivered.Header, out var header, out var error), error.ToString());
        Assert.Equal(properties, header.Properties);
        await raw.CloseAsync();
        await channel.QueueDeleteAsync(queue, ifUnused: false, ifEmpty: false, noWait: false);
    }

    [Fact]
    public async Task An_empty_body_is_delivered_as_a_header_with_size_zero_and_no_body_frame()
    {
        await using var broker = await InProcessBroker.StartAsync();
        await using var connection = await broker.Factory().CreateConnectionAsync();
        await using var channel = await connection.CreateChannelAsync();
        var queue = await channel.DeclareQueueAsync();
        await using var raw = await RawChannel.OpenAsync(broker);

        var sent = await raw.PublishAsync("", queue, mandatory: false, new BasicProperties(), []);
        await raw.Socket.SendMethodAsync(RawChannel.Number, new BasicGet(0, queue, NoAck: true));
        var got = await raw.ReadContentAsync(AmqpMethodId.BasicGetOk);

        Assert.Equal(Convert.ToHexString(sent), Convert.ToHexString(got.Header));
        Assert.Empty(got.Body);

        // The next frame is the reply to the next method, not a stray empty body frame.
        await raw.Socket.SendMethodAsync(RawChannel.Number, new BasicGet(0, queue, NoAck: true));
        await raw.ExpectAsync(AmqpMethodId.BasicGetEmpty);
        await raw.CloseAsync();
        await channel.QueueDeleteAsync(queue, ifUnused: false, ifEmpty: false, noWait: false);
    }

    [Fact]
    public async Task Publishing_with_immediate_set_closes_the_connection_with_540_not_implemented()
    {
        // RabbitMQ dropped support for 'immediate' in 3.0 and answers it with a hard error. RabbitMQ.Client 7 cannot
        // set the bit, so this is raw.
        await using var broker = await InProcessBroker.StartAsync();
        await using var raw = await RawChannel.OpenAsync(broker);

        await raw.PublishAsync("", "anything", mandatory: false, new BasicProperties(), [1, 2, 3], immediate: true);

        var close = (await raw.ExpectAsync(AmqpMethodId.ConnectionClose)).AsConnectionClose();
        Assert.Equal(540, close.ReplyCode);
        Assert.Equal("NOT_IMPLEMENTED - immediate=true", close.ReplyText.ToString());
        Assert.Equal((60, 40), (close.ClassId, close.MethodId));
        await raw.Socket.SendMethodAsync(0, new ConnectionCloseOk());
    }
}
