using System.Buffers;
using System.Net;
using System.Net.Sockets;
using Holdfast.Amqp.Codec;
using Holdfast.Amqp.Framing;
using RabbitMQ.Client;
using BasicProperties = Holdfast.Amqp.Codec.BasicProperties;
using ClientProperties = RabbitMQ.Client.BasicProperties;

namespace Holdfast.Amqp.Tests;

/// <summary>
/// The official .NET client (RabbitMQ.Client 7) as a reference peer: a scripted server built only
/// on our codec shakes hands with it, takes a confirmed publish with every property set and a body
/// split over several frames, and closes. Each side must understand every byte the other sends.
/// This is a codec test, not a broker: the script knows exactly which method comes next.
/// </summary>
public sealed class RabbitMqClientPeerTests
{
    private const uint FrameMax = 4096;
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task The_real_client_handshakes_publishes_with_confirms_and_closes()
    {
        using var timeout = new CancellationTokenSource(Deadline);
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        int port = ((IPEndPoint)listener.LocalEndpoint).Port;

        var server = RunScriptedServerAsync(listener, timeout.Token);

        byte[] body = new byte[10_000];
        new Random(5).NextBytes(body);
        var factory = new ConnectionFactory
        {
            HostName = "127.0.0.1",
            Port = port,
            AutomaticRecoveryEnabled = false,
            RequestedHeartbeat = TimeSpan.Zero,
            ClientProvidedName = "codec-peer-test",
        };
        await using (var connection = await factory.CreateConnectionAsync(timeout.Token))
        {
            await using var channel = await connection.CreateChannelAsync(new CreateChannelOptions(true, true), timeout.Token);
            var properties = new ClientProperties
            {
                ContentType = "application/octet-stream",
                ContentEncoding = "identity",
                Headers = new Dictionary<string, object?>
                {
                    ["text"] = "héllo",
                    ["int"] = 42,
                    ["long"] = 1L << 40,
                    ["flag"] = true,
                    ["nested"] = new Dictionary<string, object?> { ["inner"] = 1.5 },
                    ["list"] = new List<object?> { 1, "two" },
                    ["nothing"] = null,
                },
                DeliveryMode = DeliveryModes.Persistent,
                Priority = 7,
                CorrelationId = "corr",
                ReplyTo = "reply",
                Expiration = "60000",
                MessageId = "msg-1",
                Timestamp = new RabbitMQ.Client.AmqpTimestamp(1700000000),
                Type = "kind",
                UserId = "guest",
                AppId = "tests",
                ClusterId = "cluster",
            };

            // With tracking on, this returns only once our server's basic.ack has been understood.
            await channel.BasicPublishAsync("amq.direct", "orders", mandatory: true, properties, body, timeout.Token);
            await channel.CloseAsync(timeout.Token);
        }

        var received = await server.WaitAsync(Deadline);

        Assert.Equal("PLAIN", received.StartOk.Mechanism.ToString());
        Assert.Equal("\0guest\0guest", received.StartOk.Response.ToString());
        Assert.True(received.StartOk.ClientProperties.TryGetValue("product", out var product));
        Assert.Equal("RabbitMQ", product.AsString());
        Assert.True(received.StartOk.ClientProperties.TryGetValue("capabilities", out var capabilities));
        Assert.True(capabilities.AsTable().TryGetValue("publisher_confirms", out var confirms) && confirms.AsBoolean());
        Assert.Equal(FrameMax, received.TuneOk.FrameMax);
        Assert.Equal("/", received.Open.VirtualHost.ToString());

        Assert.Equal("amq.direct", received.Publish.Exchange.ToString());
        Assert.Equal("orders", received.Publish.RoutingKey.ToString());
        Assert.True(received.Publish.Mandatory);
        Assert.Equal(3, received.BodyFrames);
        Assert.Equal(body, received.Body);

        var props = received.Properties;
        Assert.Equal(0xFFFC, props.PropertyFlags);
        Assert.Equal("application/octet-stream", props.ContentType.ToString());
        Assert.Equal((byte)2, props.DeliveryMode);
        Assert.Equal((byte)7, props.Priority);
        Assert.Equal("msg-1", props.MessageId.ToString());
        Assert.Equal(1700000000UL, props.Timestamp!.Value.UnixSeconds);
        Assert.Equal("cluster", props.ClusterId.ToString());
        var headers = props.Headers!;
        // With confirmation tracking on, the client adds its publish sequence number as a header.
        Assert.Equal(["text", "int", "long", "flag", "nested", "list", "nothing", "x-dotnet-pub-seq-no"], headers.Entries.ToArray().Select(e => e.Name.ToString()));
        Assert.True(headers.TryGetValue("x-dotnet-pub-seq-no", out var sequenceNumber));
        Assert.True(sequenceNumber.TryGetInt64(out long sequence));
        Assert.Equal(1, sequence);
        Assert.True(headers.TryGetValue("text", out var text));
        Assert.Equal("héllo", text.AsString());
        Assert.True(headers.TryGetValue("int", out var number));
        Assert.Equal(42, number.AsInt32());
        Assert.True(headers.TryGetValue("long", out var big));
        Assert.Equal(1L << 40, big.AsInt64());
        Assert.True(headers.TryGetValue("flag", out var flag));
        Assert.True(flag.AsBoolean());
        Assert.True(headers.TryGetValue("nested", out var nested));
        Assert.True(nested.AsTable().TryGetValue("inner", out var inner));
        Assert.Equal(1.5, inner.AsFloat64());
        Assert.True(headers.TryGetValue("list", out var list));
        Assert.Equal(2, list.AsArray().Count);
        Assert.True(headers.TryGetValue("nothing", out var nothing));
        Assert.Equal(FieldValueKind.Void, nothing.Kind);
    }

    /// <summary>Plays the broker's side of one connection, in order, and reports what it was sent.</summary>
    private static async Task<Received> RunScriptedServerAsync(TcpListener listener, CancellationToken cancellation)
    {
        using var socket = await listener.AcceptSocketAsync(cancellation);
        await using var stream = new NetworkStream(socket, ownsSocket: false);
        var connection = new ScriptedConnection(stream);

        await connection.ExpectProtocolHeaderAsync(cancellation);
        var serverProperties = new FieldTable(
            new("product", FieldValue.FromString("Holdfast")),
            new("capabilities", FieldValue.FromTable(new FieldTable(
                new("publisher_confirms", FieldValue.FromBoolean(true)),
                new("basic.nack", FieldValue.FromBoolean(true)),
                new("exchange_exchange_bindings", FieldValue.FromBoolean(true)),
                new("consumer_cancel_notify", FieldValue.FromBoolean(true)),
                new("connection.blocked", FieldValue.FromBoolean(true)),
                new("authentication_failure_close", FieldValue.FromBoolean(true))))));
        await connection.SendAsync(0, new ConnectionStart(0, 9, serverProperties, "PLAIN", "en_US"), cancellation);
        var startOk = await connection.ExpectAsync<ConnectionStartOk>(cancellation);

        await connection.SendAsync(0, new ConnectionTune(2047, FrameMax, 0), cancellation);
        var tuneOk = await connection.ExpectAsync<ConnectionTuneOk>(cancellation);
        var open = await connection.ExpectAsync<ConnectionOpen>(cancellation);
        await connection.SendAsync(0, new ConnectionOpenOk(string.Empty), cancellation);

        await connection.ExpectAsync<ChannelOpen>(cancellation);
        await connection.SendAsync(1, new ChannelOpenOk(LongString.Empty), cancellation);
        await connection.ExpectAsync<ConfirmSelect>(cancellation);
        await connection.SendAsync(1, new ConfirmSelectOk(), cancellation);

        var publish = await connection.ExpectAsync<BasicPublish>(cancellation);
        var header = await connection.ExpectContentHeaderAsync(cancellation);
        var body = new List<byte>();
        int bodyFrames = 0;
        while ((ulong)body.Count < header.BodySize)
        {
            body.AddRange(await connection.ExpectFrameAsync(FrameType.Body, cancellation));
            bodyFrames++;
        }

        await connection.SendAsync(1, new BasicAck(1, Multiple: false), cancellation);

        await connection.ExpectAsync<ChannelClose>(cancellation);
        await connection.SendAsync(1, new ChannelCloseOk(), cancellation);
        await connection.ExpectAsync<ConnectionClose>(cancellation);
        await connection.SendAsync(0, new ConnectionCloseOk(), cancellation);

        return new Received(startOk, tuneOk, open, publish, header.Properties, [.. body], bodyFrames);
    }

    private sealed record Received(ConnectionStartOk StartOk, ConnectionTuneOk TuneOk, ConnectionOpen Open, BasicPublish Publish, BasicProperties Properties, byte[] Body, int BodyFrames);

    /// <summary>
    /// Reads whole frames off a stream with the codec, skipping heartbeats. Each payload is copied
    /// into its own array, so decoded values (which borrow it) stay valid after the buffer moves on.
    /// </summary>
    private sealed class ScriptedConnection(NetworkStream stream)
    {
        private readonly ArrayBufferWriter<byte> _output = new();
        private byte[] _buffer = new byte[64 * 1024];
        private int _buffered;

        public async Task ExpectProtocolHeaderAsync(CancellationToken cancellation)
        {
            while (true)
            {
                var status = Parse(static (ref SequenceReader<byte> input) => ProtocolHeader.TryRead(ref input) switch
                {
                    ProtocolHeaderStatus.Accepted => true,
                    ProtocolHeaderStatus.NeedMoreData => false,
                    _ => throw new InvalidOperationException("not AMQP 0-9-1"),
                });
                if (status)
                {
                    return;
                }

                await FillAsync(cancellation);
            }
        }

        public async Task SendAsync<TMethod>(ushort channel, TMethod method, CancellationToken cancellation)
            where TMethod : struct, IAmqpMethod
        {
            _output.ResetWrittenCount();
            FrameWriter.WriteMethod(_output, channel, method, FrameMax);
            await stream.WriteAsync(_output.WrittenMemory, cancellation);
        }

        public async Task<TMethod> ExpectAsync<TMethod>(CancellationToken cancellation)
            where TMethod : struct, IAmqpMethod
        {
            byte[] payload = await ExpectFrameAsync(FrameType.Method, cancellation);
            if (!AmqpMethodDecoder.TryDecode(payload, out var method, out var error))
            {
                throw new InvalidOperationException(error.ToString());
            }

            return method is TMethod expected ? expected : throw new InvalidOperationException($"expected {typeof(TMethod).Name}, got {method}");
        }

        public async Task<ContentHeader> ExpectContentHeaderAsync(CancellationToken cancellation)
        {
            byte[] payload = await ExpectFrameAsync(FrameType.Header, cancellation);
            return ContentHeader.TryDecode(payload, out var header, out var error) ? header : throw new InvalidOperationException(error.ToString());
        }

        public async Task<byte[]> ExpectFrameAsync(FrameType type, CancellationToken cancellation)
        {
            while (true)
            {
                FrameType readType = default;
                byte[]? payload = null;
                bool read = Parse((ref SequenceReader<byte> input) =>
                {
                    var status = FrameReader.TryReadFrame(ref input, FrameMax, out var frame, out var error);
                    if (status == FrameReadStatus.Error)
                    {
                        throw new InvalidOperationException(error.ToString());
                    }

                    if (status == FrameReadStatus.Frame)
                    {
                        readType = frame.Type;
                        payload = frame.Payload.ToArray();
                    }

                    return status == FrameReadStatus.Frame;
                });

                if (!read)
                {
                    await FillAsync(cancellation);
                }
                else if (readType == type)
                {
                    return payload!;
                }
                else if (readType != FrameType.Heartbeat)
                {
                    throw new InvalidOperationException($"expected a {type} frame, got {readType}");
                }
            }
        }

        private bool Parse(ReadStep step)
        {
            var input = new SequenceReader<byte>(new ReadOnlySequence<byte>(_buffer, 0, _buffered));
            bool done = step(ref input);
            int consumed = (int)input.Consumed;
            Buffer.BlockCopy(_buffer, consumed, _buffer, 0, _buffered - consumed);
            _buffered -= consumed;
            return done;
        }

        private async Task FillAsync(CancellationToken cancellation)
        {
            if (_buffered == _buffer.Length)
            {
                Array.Resize(ref _buffer, _buffer.Length * 2);
            }

            int count = await stream.ReadAsync(_buffer.AsMemory(_buffered), cancellation);
            _buffered += count == 0 ? throw new EndOfStreamException("the client closed the connection") : count;
        }
    }

    private delegate bool ReadStep(ref SequenceReader<byte> input);
}
