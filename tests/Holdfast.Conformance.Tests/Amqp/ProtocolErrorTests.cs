using System.Buffers.Binary;
using Holdfast.Amqp.Codec;
using Holdfast.Amqp.Framing;
using Holdfast.Conformance.Tests.Support;
using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;

namespace Holdfast.Conformance.Tests.Amqp;

public sealed class ProtocolErrorTests
{
    [Theory]
    [InlineData(new byte[] { (byte)'A', (byte)'M', (byte)'Q', (byte)'P', 0, 0, 9, 0 })]
    [InlineData(new byte[] { (byte)'A', (byte)'M', (byte)'Q', (byte)'P', 1, 1, 0, 10 })]
    [InlineData(new byte[] { (byte)'G', (byte)'E', (byte)'T', (byte)' ', (byte)'/', (byte)' ', (byte)'H', (byte)'T' })]
    public async Task A_wrong_protocol_header_gets_ours_back_and_the_socket_closed(byte[] header)
    {
        await using var broker = await InProcessBroker.StartAsync();
        await using var socket = await RawAmqpSocket.ConnectAsync(broker.Port);

        await socket.SendAsync(header);
        var reply = await socket.ReadToEndAsync(TimeSpan.FromSeconds(5));

        Assert.Equal(ProtocolHeader.Amqp091.ToArray(), reply);
    }

    [Fact]
    public async Task A_channel_error_closes_only_its_channel_and_the_other_channels_keep_working()
    {
        await using var broker = await InProcessBroker.StartAsync();
        await using var connection = await broker.Factory().CreateConnectionAsync();
        await using var bystander = await connection.CreateChannelAsync();
        await using var channel = await connection.CreateChannelAsync();

        var failure = await Assert.ThrowsAsync<OperationInterruptedException>(() => channel.QueueDeclarePassiveAsync("no-such-queue"));

        Assert.Equal(404, failure.ShutdownReason!.ReplyCode);
        Assert.Equal("NOT_FOUND - no queue 'no-such-queue' in vhost '/'", failure.ShutdownReason.ReplyText);
        Assert.Equal(50, failure.ShutdownReason.ClassId);
        Assert.Equal(10, failure.ShutdownReason.MethodId);
        Assert.False(channel.IsOpen);
        Assert.True(bystander.IsOpen);
        Assert.True(connection.IsOpen);
        await using var fresh = await connection.CreateChannelAsync();
        Assert.True(fresh.IsOpen);
    }

    [Fact]
    public async Task A_frame_with_a_bad_frame_end_gets_connection_close_501_and_leaves_other_connections_alone()
    {
        await using var broker = await InProcessBroker.StartAsync();
        await using var healthy = await broker.Factory().CreateConnectionAsync();
        await using var socket = await RawAmqpSocket.ConnectAsync(broker.Port);
        await socket.HandshakeAsync();

        // channel.open on channel 1, with the frame-end octet 0xCE replaced.
        var frame = new System.Buffers.ArrayBufferWriter<byte>();
        FrameWriter.WriteMethod(frame, 1, new ChannelOpen(ShortString.Empty), 4096);
        byte[] broken = frame.WrittenSpan.ToArray();
        broken[^1] = 0x00;
        await socket.SendAsync(broken);

        var close = (await socket.ExpectMethodAsync(AmqpMethodId.ConnectionClose)).AsConnectionClose();
        Assert.Equal((ushort)ReplyCode.FrameError, close.ReplyCode);
        Assert.StartsWith("FRAME_ERROR - ", close.ReplyText.ToString(), StringComparison.Ordinal);

        // We never answer close-ok: the server gives up after its close timeout and drops the socket.
        await socket.ReadToEndAsync(TimeSpan.FromSeconds(5));

        await using var channel = await healthy.CreateChannelAsync();
        Assert.True(channel.IsOpen);
    }

    [Theory]
    [InlineData("above channel-max", 2048, (ushort)ReplyCode.ChannelError)]
    [InlineData("not open", 7, (ushort)ReplyCode.ChannelError)]
    public async Task A_method_on_a_channel_that_is_not_open_closes_the_connection_with_504(string why, int channel, ushort expected)
    {
        await using var broker = await InProcessBroker.StartAsync();
        await using var socket = await RawAmqpSocket.ConnectAsync(broker.Port);
        await socket.HandshakeAsync();

        await socket.SendMethodAsync((ushort)channel, new ChannelFlow(true));
        var close = (await socket.ExpectMethodAsync(AmqpMethodId.ConnectionClose)).AsConnectionClose();

        Assert.True(close.ReplyCode == expected, $"{why}: {close.ReplyCode} {close.ReplyText}");
        await socket.SendMethodAsync(0, default(ConnectionCloseOk));
        await socket.ReadToEndAsync(TimeSpan.FromSeconds(5));
    }

    [Fact]
    public async Task A_content_header_without_a_method_is_505_unexpected_frame()
    {
        await using var broker = await InProcessBroker.StartAsync();
        await using var socket = await RawAmqpSocket.ConnectAsync(broker.Port);
        await socket.HandshakeAsync();
        await socket.SendMethodAsync(1, new ChannelOpen(ShortString.Empty));
        await socket.ExpectMethodAsync(AmqpMethodId.ChannelOpenOk);

        var header = new System.Buffers.ArrayBufferWriter<byte>();
        FrameWriter.WriteContentHeader(header, 1, new ContentHeader(3, default), 4096);
        await socket.SendAsync(header.WrittenMemory);

        var close = (await socket.ExpectMethodAsync(AmqpMethodId.ConnectionClose)).AsConnectionClose();
        Assert.Equal((ushort)ReplyCode.UnexpectedFrame, close.ReplyCode);
    }

    [Fact]
    public async Task A_refused_publish_closes_the_channel_and_its_content_is_discarded()
    {
        await using var broker = await InProcessBroker.StartAsync();
        await using var socket = await RawAmqpSocket.ConnectAsync(broker.Port);
        await socket.HandshakeAsync();
        await socket.SendMethodAsync(1, new ChannelOpen(ShortString.Empty));
        await socket.ExpectMethodAsync(AmqpMethodId.ChannelOpenOk);

        var publish = new System.Buffers.ArrayBufferWriter<byte>();
        FrameWriter.WriteContent(publish, 1, new BasicPublish(0, "no-such-exchange", "q", false, false), default, new System.Buffers.ReadOnlySequence<byte>(new byte[10_000]), 4096);
        await socket.SendAsync(publish.WrittenMemory);

        // The body frames that follow the refused method must not be taken for frames out of sequence.
        var close = await socket.ExpectMethodAsync(AmqpMethodId.ChannelClose);
        Assert.Equal(1, close.Channel);
        Assert.True(ChannelClose.TryDecodeArguments(close.Arguments, out var reason, out _));
        Assert.Equal(404, reason.ReplyCode);
        await socket.SendMethodAsync(1, default(ChannelCloseOk));

        // The channel number is free again and the connection is fine.
        await socket.SendMethodAsync(1, new ChannelOpen(ShortString.Empty));
        await socket.ExpectMethodAsync(AmqpMethodId.ChannelOpenOk);
    }

    [Fact]
    public async Task Arguments_nested_past_the_codecs_depth_limit_get_connection_close_502_and_leave_other_connections_alone()
    {
        await using var broker = await InProcessBroker.StartAsync();
        await using var healthy = await broker.Factory().CreateConnectionAsync();
        await using var socket = await RawAmqpSocket.ConnectAsync(broker.Port);
        await socket.HandshakeAsync();
        await socket.SendMethodAsync(1, new ChannelOpen(ShortString.Empty));
        await socket.ExpectMethodAsync(AmqpMethodId.ChannelOpenOk);

        // queue.declare "deep" whose arguments table holds tables one level past the limit. The codec's own
        // writer refuses to build such a table, so the bytes are put together here.
        byte[] arguments = [0, 0, 4, .. "deep"u8, 0, .. TableNested(FieldTable.MaxDepth + 1)];
        await socket.SendAsync(MethodFrame(1, AmqpMethodId.QueueDeclare, arguments));

        var close = (await socket.ExpectMethodAsync(AmqpMethodId.ConnectionClose)).AsConnectionClose();
        Assert.Equal((ushort)ReplyCode.SyntaxError, close.ReplyCode);
        Assert.StartsWith("SYNTAX_ERROR - ", close.ReplyText.ToString(), StringComparison.Ordinal);
        Assert.Equal((ushort)AmqpClassId.Queue, close.ClassId);
        Assert.Equal(AmqpMethodInfo.MethodIndexOf(AmqpMethodId.QueueDeclare), close.MethodId);
        await socket.SendMethodAsync(0, default(ConnectionCloseOk));
        await socket.ReadToEndAsync(TimeSpan.FromSeconds(5));

        await AssertRoundTripAsync(healthy);
    }

    [Theory]
    [InlineData("an unknown method of a known class on an open channel", 1, 60, 255)]
    [InlineData("an unknown class on an open channel", 1, 99, 10)]
    [InlineData("an unknown method on channel 0", 0, 10, 255)]
    [InlineData("basic.deliver, which only servers send", 1, 60, 60)]
    public async Task A_method_the_server_cannot_take_gets_connection_close_503_and_leaves_other_connections_alone(string what, int channel, int classId, int methodId)
    {
        await using var broker = await InProcessBroker.StartAsync();
        await using var healthy = await broker.Factory().CreateConnectionAsync();
        await using var socket = await RawAmqpSocket.ConnectAsync(broker.Port);
        await socket.HandshakeAsync();
        await socket.SendMethodAsync(1, new ChannelOpen(ShortString.Empty));
        await socket.ExpectMethodAsync(AmqpMethodId.ChannelOpenOk);

        // Arguments that would decode as basic.deliver's (consumer tag, delivery tag, redelivered, exchange, routing key).
        byte[] arguments = [1, (byte)'t', 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 1, (byte)'q'];
        var id = (AmqpMethodId)(((uint)classId << 16) | (uint)methodId);
        await socket.SendAsync(MethodFrame((ushort)channel, id, arguments));

        var close = (await socket.ExpectMethodAsync(AmqpMethodId.ConnectionClose)).AsConnectionClose();
        Assert.True(close.ReplyCode == (ushort)ReplyCode.CommandInvalid, $"{what}: {close.ReplyCode} {close.ReplyText}");
        Assert.StartsWith("COMMAND_INVALID - ", close.ReplyText.ToString(), StringComparison.Ordinal);
        Assert.Equal(classId, close.ClassId);
        Assert.Equal(methodId, close.MethodId);
        await socket.SendMethodAsync(0, default(ConnectionCloseOk));
        await socket.ReadToEndAsync(TimeSpan.FromSeconds(5));

        await AssertRoundTripAsync(healthy);
    }

    [Fact]
    public async Task Amqplain_credentials_are_accepted()
    {
        await using var broker = await InProcessBroker.StartAsync();
        await using var socket = await RawAmqpSocket.ConnectAsync(broker.Port);
        await socket.SendAsync(ProtocolHeader.Amqp091.ToArray());
        var start = await socket.ExpectMethodAsync(AmqpMethodId.ConnectionStart);
        Assert.True(ConnectionStart.TryDecodeArguments(start.Arguments, out var startMethod, out _));
        Assert.Equal("PLAIN AMQPLAIN", startMethod.Mechanisms.ToString());

        var table = new FieldTable(
            new FieldTableEntry("LOGIN", FieldValue.FromString("guest")),
            new FieldTableEntry("PASSWORD", FieldValue.FromString("guest")));
        byte[] encoded = new byte[table.EncodedLength];
        table.WriteTo(encoded);
        await socket.SendMethodAsync(0, new ConnectionStartOk(FieldTable.Empty, "AMQPLAIN", new LongString(encoded.AsMemory(4)), "en_US"));

        await socket.ExpectMethodAsync(AmqpMethodId.ConnectionTune);
    }

    /// <summary>A method frame around any class and method id and argument bytes, framed correctly.</summary>
    private static byte[] MethodFrame(ushort channel, AmqpMethodId id, ReadOnlySpan<byte> arguments)
    {
        var frame = new byte[AmqpFrame.OverheadLength + 4 + arguments.Length];
        frame[0] = (byte)FrameType.Method;
        BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(1), channel);
        BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(3), (uint)(4 + arguments.Length));
        BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(AmqpFrame.HeaderLength), (uint)id);
        arguments.CopyTo(frame.AsSpan(AmqpFrame.HeaderLength + 4));
        frame[^1] = AmqpConstants.FrameEnd;
        return frame;
    }

    /// <summary>A field table (length-prefixed) whose one entry "n" is a table, and so on <paramref name="levels"/> tables deep.</summary>
    private static byte[] TableNested(int levels)
    {
        byte[] table = [0, 0, 0, 0];
        for (int level = 0; level < levels; level++)
        {
            byte[] entry = [1, (byte)'n', (byte)'F', .. table];
            table = new byte[4 + entry.Length];
            BinaryPrimitives.WriteUInt32BigEndian(table, (uint)entry.Length);
            entry.CopyTo(table, 4);
        }

        return table;
    }

    /// <summary>A confirmed publish and a get on a fresh channel: the connection works end to end.</summary>
    private static async Task AssertRoundTripAsync(IConnection connection)
    {
        Assert.True(connection.IsOpen);
        await using var channel = await connection.CreateChannelAsync(new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true));
        var queue = (await channel.QueueDeclareAsync(string.Empty, durable: false, exclusive: true, autoDelete: true)).QueueName;
        await channel.BasicPublishAsync(string.Empty, queue, mandatory: true, new RabbitMQ.Client.BasicProperties(), "still here"u8.ToArray());
        var got = await channel.BasicGetAsync(queue, autoAck: true);
        Assert.Equal("still here"u8.ToArray(), got!.Body.ToArray());
    }
}
