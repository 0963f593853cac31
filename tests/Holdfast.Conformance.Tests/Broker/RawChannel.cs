using System.Buffers;
using System.Buffers.Binary;
using System.Net;
using Holdfast.Amqp.Codec;
using Holdfast.Amqp.Framing;
using Holdfast.Conformance.Tests.Support;

namespace Holdfast.Conformance.Tests.Broker;

/// <summary>
/// One open channel (number 1) on a raw socket, for the few methods RabbitMQ.Client 7 cannot send:
/// exchange.declare with internal=true and basic.recover.
/// </summary>
internal sealed class RawChannel : IAsyncDisposable
{
    public const ushort Number = 1;

    /// <summary>The frame-max RawAmqpSocket.HandshakeAsync agrees to.</summary>
    public const uint FrameMax = 131072;

    private RawChannel(RawAmqpSocket socket) => Socket = socket;

    public RawAmqpSocket Socket { get; }

    public static async Task<RawChannel> OpenAsync(InProcessBroker broker)
    {
        // RawAmqpSocket dials the loopback address only.
        Assert.True(IPAddress.TryParse(broker.Host, out var address) && IPAddress.IsLoopback(address), $"raw-socket tests need a loopback broker, not {broker.Host}");
        var socket = await RawAmqpSocket.ConnectAsync(broker.Port);
        try
        {
            await socket.HandshakeAsync();
            await socket.SendMethodAsync(Number, new ChannelOpen(ShortString.Empty));
            await socket.ExpectMethodAsync(AmqpMethodId.ChannelOpenOk);
            return new RawChannel(socket);
        }
        catch
        {
            await socket.DisposeAsync();
            throw;
        }
    }

    /// <summary>Declares an exchange with internal=true (which the .NET client cannot) on its own short-lived connection.</summary>
    public static async Task DeclareInternalExchangeAsync(InProcessBroker broker, string name, string type)
    {
        await using var raw = await OpenAsync(broker);
        await raw.Socket.SendMethodAsync(Number, new ExchangeDeclare(0, name, type, Passive: false, Durable: false, AutoDelete: false, Internal: true, Nowait: false, FieldTable.Empty));
        await raw.ExpectAsync(AmqpMethodId.ExchangeDeclareOk);
        await raw.CloseAsync();
    }

    /// <summary>The next method frame on channel 1, which must be <paramref name="expected"/> (a channel.close fails with its text).</summary>
    public async Task<RawFrame> ExpectAsync(AmqpMethodId expected)
    {
        var frame = await NextFrameAsync();
        Assert.Equal(FrameType.Method, frame.Type);
        if (frame.MethodId == AmqpMethodId.ChannelClose && expected != AmqpMethodId.ChannelClose
            && ChannelClose.TryDecodeArguments(frame.Arguments, out var close, out _))
        {
            Assert.Fail($"expected {AmqpMethodInfo.Name(expected)}, the server closed the channel: {close.ReplyCode} {close.ReplyText}");
        }

        Assert.Equal(AmqpMethodInfo.Name(expected), AmqpMethodInfo.Name(frame.MethodId));
        return frame;
    }

    /// <summary>A basic.deliver and its content: the method, then the body (header frame skipped, body frames joined).</summary>
    public async Task<(BasicDeliver Deliver, byte[] Body)> ReadDeliveryAsync()
    {
        var content = await ReadContentAsync(AmqpMethodId.BasicDeliver);
        Assert.True(BasicDeliver.TryDecodeArguments(content.Method.Arguments, out var deliver, out var error), error.ToString());

        // The decoded strings borrow the frame's payload, which this frame owns.
        return (deliver, content.Body);
    }

    /// <summary>A content-carrying method (<paramref name="expected"/>), its header frame's payload as sent, and its joined body.</summary>
    public async Task<(RawFrame Method, byte[] Header, byte[] Body)> ReadContentAsync(AmqpMethodId expected)
    {
        var method = await ExpectAsync(expected);
        var (header, body) = await ReadContentOfAsync(method);
        return (method, header, body);
    }

    /// <summary>The next method frame on the socket, whatever it is (heartbeats skipped).</summary>
    public async Task<RawFrame> NextMethodAsync()
    {
        var frame = await NextFrameAsync();
        Assert.Equal(FrameType.Method, frame.Type);
        return frame;
    }

    /// <summary>The content header payload and joined body that follow a content-carrying <paramref name="method"/> frame.</summary>
    public async Task<(byte[] Header, byte[] Body)> ReadContentOfAsync(RawFrame method)
    {
        ArgumentNullException.ThrowIfNull(method);
        var header = await NextFrameAsync();
        Assert.Equal(FrameType.Header, header.Type);
        long size = (long)BinaryPrimitives.ReadUInt64BigEndian(header.Payload.AsSpan(4, 8));
        var body = new List<byte>();
        while (body.Count < size)
        {
            var frame = await NextFrameAsync();
            Assert.Equal(FrameType.Body, frame.Type);
            body.AddRange(frame.Payload);
        }

        return (header.Payload, [.. body]);
    }

    /// <summary>Sends basic.publish with a content header built from <paramref name="properties"/>; returns that header's payload bytes.</summary>
    public async Task<byte[]> PublishAsync(string exchange, string routingKey, bool mandatory, Holdfast.Amqp.Codec.BasicProperties properties, byte[] body, bool immediate = false)
    {
        var output = new ArrayBufferWriter<byte>();
        FrameWriter.WriteContent(output, Number, new BasicPublish(0, exchange, routingKey, mandatory, immediate), properties, new ReadOnlySequence<byte>(body), FrameMax);
        await Socket.SendAsync(output.WrittenMemory);
        var header = new ContentHeader((ulong)body.Length, properties);
        var payload = new byte[header.EncodedLength];
        header.WriteTo(payload);
        return payload;
    }

    public async Task CloseAsync()
    {
        await Socket.SendMethodAsync(0, new ConnectionClose(200, "bye", 0, 0));
        while (true)
        {
            var frame = await Socket.ReadFrameAsync(BrokerKit.Wait);
            if (frame is null || (frame.Type == FrameType.Method && frame.MethodId == AmqpMethodId.ConnectionCloseOk))
            {
                return;
            }
        }
    }

    public ValueTask DisposeAsync() => Socket.DisposeAsync();

    private async Task<RawFrame> NextFrameAsync()
    {
        while (true)
        {
            var frame = await Socket.ReadFrameAsync(BrokerKit.Wait) ?? throw new InvalidOperationException("The server closed the socket.");
            if (frame.Type != FrameType.Heartbeat)
            {
                return frame;
            }
        }
    }
}
