using System.Buffers;
using System.Buffers.Binary;
using System.Diagnostics;
using System.Net;
using Holdfast.Amqp.Codec;
using Holdfast.Amqp.Framing;
using Holdfast.Conformance.Tests.Support;
using Xunit.Abstractions;

namespace Holdfast.Conformance.Tests.Robustness;

/// <summary>
/// TCP may cut a client's bytes anywhere. A whole session (protocol header, handshake, channel.open, queue.declare,
/// confirm.select, basic.publish with a header and a three-frame body at frame-max 4096, basic.get) is sent pipelined,
/// cut in two at every byte position (a fresh connection per cut inside the handshake, a fresh channel per cut after
/// it), and then one byte per write: the broker must give the same answers every time, proving end to end that its
/// frame reader resumes across any split.
/// </summary>
public sealed class SplitFrameTests(ITestOutputHelper output)
{
    /// <summary>The spec's frame-min-size: small frames, so the body takes three of them.</summary>
    private const uint FrameMax = 4096;

    /// <summary>Cuts in flight at once (connections working side by side).</summary>
    private const int Parallelism = 24;

    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(5);

    [Fact]
    public async Task Every_split_of_a_session_into_two_writes_gets_the_same_answers()
    {
        await using var broker = await InProcessBroker.StartAsync();
        RequireLoopback(broker);
        var shape = Session.Build(Unique());
        int length = shape.Bytes.Length;
        int handshake = shape.HandshakeLength;
        var clock = Stopwatch.StartNew();
        var failures = new List<string>();
        int passed = 0;
        void Fail(int cut, Exception ex)
        {
            lock (failures)
            {
                failures.Add($"cut at byte {cut} of {length}: {ex.GetType().Name}: {ex.Message}");
            }
        }

        // Cuts inside the handshake (and right after it) each need a connection of their own: [0, k), then [k, n).
        int next = 0;
        async Task HandshakeCutsAsync()
        {
            for (int cut = Interlocked.Increment(ref next) - 1; cut <= handshake; cut = Interlocked.Increment(ref next) - 1)
            {
                try
                {
                    await using var socket = await RawAmqpSocket.ConnectAsync(broker.Port);
                    await RunCutAsync(socket, Session.Build(Unique()), 0, cut).WaitAsync(Wait * 2);
                    await new Replies(socket, shape, Session.SynchronousCount).CloseConnectionAsync();
                    Interlocked.Increment(ref passed);
                }
                catch (Exception ex)
                {
                    Fail(cut, ex);
                }
            }
        }

        await Task.WhenAll(Enumerable.Range(0, Parallelism).Select(_ => Task.Run(HandshakeCutsAsync)));
        var handshakeCuts = clock.Elapsed;

        // Cuts after it reuse open connections: each cut runs the channel's part of the session ([handshake, k), then
        // [k, n)) on a channel of its own, the next number up; the channels and their exclusive queues go with the connection.
        int nextChannelCut = handshake + 1;
        async Task ChannelCutsAsync()
        {
            await using var socket = await RawAmqpSocket.ConnectAsync(broker.Port);
            await socket.SendAsync(shape.Bytes.AsMemory(0, handshake));
            await new Replies(socket, shape, 0).ExpectSynchronousAsync(Session.HandshakeReplies);
            ushort channel = 0;
            for (int cut = Interlocked.Increment(ref nextChannelCut) - 1; cut < length; cut = Interlocked.Increment(ref nextChannelCut) - 1)
            {
                try
                {
                    var session = Session.Build(Unique(), ++channel);
                    Assert.Equal(length, session.Bytes.Length);
                    await RunCutAsync(socket, session, handshake, cut).WaitAsync(Wait * 2);
                    Interlocked.Increment(ref passed);
                }
                catch (Exception ex)
                {
                    // The connection's state is unknown after a failure: report it and stop using the connection.
                    Fail(cut, ex);
                    return;
                }
            }

            await new Replies(socket, shape, Session.SynchronousCount).CloseConnectionAsync();
        }

        await Task.WhenAll(Enumerable.Range(0, Parallelism).Select(_ => Task.Run(ChannelCutsAsync)));
        output.WriteLine($"{length} cuts of a {length}-byte session in {clock.Elapsed.TotalSeconds:F2} s ({handshake + 1} on connections of their own, in {handshakeCuts.TotalSeconds:F2} s)");
        Assert.True(failures.Count == 0, $"{failures.Count} cuts failed:\n" + string.Join('\n', failures.Order().Take(20)));
        Assert.Equal(length, passed);
        if (!broker.IsExternal)
        {
            await EventuallyAsync(() => broker.Server.Amqp.ConnectionCount == 0, "every cut's connection is gone");
            var leftovers = broker.Server.Broker.GetVirtualHost("/").Queues.Where(q => q.Name.StartsWith("split-", StringComparison.Ordinal)).Select(q => q.Name).ToList();
            Assert.True(leftovers.Count == 0, "queues outlived their connections: " + string.Join(", ", leftovers.Take(10)));
        }
    }

    [Fact]
    public async Task A_session_sent_one_byte_per_write_gets_the_same_answers()
    {
        await using var broker = await InProcessBroker.StartAsync();
        RequireLoopback(broker);
        var session = Session.Build(Unique());
        var clock = Stopwatch.StartNew();
        await using var socket = await RawAmqpSocket.ConnectAsync(broker.Port);
        var replies = new Replies(socket, session, 0);
        for (int i = 0; i < session.Bytes.Length; i++)
        {
            await socket.SendAsync(session.Bytes.AsMemory(i, 1));

            // Now and then let the broker catch up, so that it also sees single bytes rather than only runs of them.
            if (i % 64 == 0)
            {
                await Task.Yield();
            }
        }

        await replies.ExpectAllAsync();
        await replies.CloseConnectionAsync();
        output.WriteLine($"{session.Bytes.Length} one-byte writes in {clock.Elapsed.TotalMilliseconds:F0} ms");
    }

    /// <summary>
    /// Sends <paramref name="session"/>'s bytes from <paramref name="from"/> on, in two writes cut at <paramref name="cut"/>,
    /// and checks every reply.
    /// </summary>
    private static async Task RunCutAsync(RawAmqpSocket socket, Session session, int from, int cut)
    {
        var replies = new Replies(socket, session, session.SynchronousRepliesBefore(from));
        if (cut > from)
        {
            await socket.SendAsync(session.Bytes.AsMemory(from, cut - from));

            // Everything the broker must answer to the complete frames of the prefix, so that it has read the prefix
            // (and the partial frame behind it) before the rest arrives; then a moment for the partial frame alone.
            await replies.ExpectSynchronousAsync(session.SynchronousRepliesBefore(cut));
            await Task.Delay(1);
        }

        await socket.SendAsync(session.Bytes.AsMemory(cut));
        await replies.ExpectAllAsync();
    }

    private static string Unique() => $"split-{Guid.NewGuid():N}";

    private static void RequireLoopback(InProcessBroker broker) =>
        Assert.True(IPAddress.TryParse(broker.Host, out var address) && IPAddress.IsLoopback(address), $"raw-socket tests need a loopback broker, not {broker.Host}");

    private static async Task EventuallyAsync(Func<bool> condition, string what)
    {
        var deadline = Stopwatch.StartNew();
        while (!condition())
        {
            Assert.True(deadline.Elapsed < Wait, "not within 5 s: " + what);
            await Task.Delay(20);
        }
    }

    /// <summary>The client's side of the conversation as one byte stream, with where each of its units ends.</summary>
    private sealed class Session
    {
        /// <summary>The replies to units 0..5, in order: what a prefix that completes those units must have produced.</summary>
        private static readonly AmqpMethodId[] Synchronous =
        [
            AmqpMethodId.ConnectionStart,
            AmqpMethodId.ConnectionTune,
            AmqpMethodId.ConnectionOpenOk,
            AmqpMethodId.ChannelOpenOk,
            AmqpMethodId.QueueDeclareOk,
            AmqpMethodId.ConfirmSelectOk,
        ];

        private static readonly byte[] s_body = MakeBody();

        private Session(string queue, ushort channel, byte[] bytes, int[] unitEnds, int[] unitReplies, byte[] header)
        {
            Queue = queue;
            Channel = channel;
            Bytes = bytes;
            UnitEnds = unitEnds;
            UnitReplies = unitReplies;
            Header = header;
        }

        public string Queue { get; }

        /// <summary>The channel the session opens and works on.</summary>
        public ushort Channel { get; }

        public byte[] Bytes { get; }

        /// <summary>The content header payload as published, which get-ok must repeat byte for byte.</summary>
        public byte[] Header { get; }

        public static byte[] Body => s_body;

        public static int SynchronousCount => Synchronous.Length;

        /// <summary>Replies owed for the handshake alone: start, tune, open-ok.</summary>
        public static int HandshakeReplies => 3;

        /// <summary>Bytes of the protocol header, start-ok, tune-ok and connection.open: the connection's part.</summary>
        public int HandshakeLength => UnitEnds[3];

        /// <summary>End offset of each unit (the protocol header, then one per frame).</summary>
        private int[] UnitEnds { get; }

        /// <summary>How many of the ordered synchronous replies are owed once each unit is complete.</summary>
        private int[] UnitReplies { get; }

        public static AmqpMethodId SynchronousReply(int index) => Synchronous[index];

        public static BasicProperties Properties => new()
        {
            ContentType = "application/octet-stream",
            Headers = new FieldTable(
                new FieldTableEntry("split", FieldValue.FromBoolean(true)),
                new FieldTableEntry("nested", FieldValue.FromTable(new FieldTable(new FieldTableEntry("n", FieldValue.FromInt64(-7))))),
                new FieldTableEntry("list", FieldValue.FromArray(new FieldArray(FieldValue.FromString("a"), FieldValue.FromDecimal(new AmqpDecimal(2, 314)))))),
            DeliveryMode = 2,
            Priority = 3,
            MessageId = "split-message",
            Timestamp = new AmqpTimestamp(1_700_000_000),
        };

        public static Session Build(string queue, ushort channel = 1)
        {
            var units = new List<byte[]> { ProtocolHeader.Amqp091.ToArray() };
            var capabilities = new FieldTable(new FieldTableEntry("authentication_failure_close", FieldValue.FromBoolean(true)));
            var clientProperties = new FieldTable(new FieldTableEntry("capabilities", FieldValue.FromTable(capabilities)));
            units.Add(Method(0, new ConnectionStartOk(clientProperties, "PLAIN", new LongString("\0guest\0guest"u8.ToArray()), "en_US")));
            units.Add(Method(0, new ConnectionTuneOk(2047, FrameMax, 0)));
            units.Add(Method(0, new ConnectionOpen("/", ShortString.Empty, false)));
            units.Add(Method(channel, new ChannelOpen(ShortString.Empty)));
            units.Add(Method(channel, new QueueDeclare(0, queue, Passive: false, Durable: false, Exclusive: true, AutoDelete: false, Nowait: false, FieldTable.Empty)));
            units.Add(Method(channel, new ConfirmSelect(false)));
            units.Add(Method(channel, new BasicPublish(0, "", queue, Mandatory: true, Immediate: false)));
            var header = new ContentHeader((ulong)s_body.Length, Properties);
            units.Add(Write(o => FrameWriter.WriteContentHeader(o, channel, header, FrameMax)));
            var bodyFrames = Write(o => FrameWriter.WriteBody(o, channel, s_body, FrameMax));
            int maxChunk = FrameWriter.MaxPayloadLength(FrameMax);
            for (int offset = 0; offset < bodyFrames.Length;)
            {
                int frameLength = AmqpFrame.OverheadLength + (int)BinaryPrimitives.ReadUInt32BigEndian(bodyFrames.AsSpan(offset + 3));
                units.Add(bodyFrames[offset..(offset + frameLength)]);
                offset += frameLength;
            }

            Assert.Equal(3, units.Count - 9);
            Assert.All(units.Skip(9), frame => Assert.True(frame.Length <= FrameMax));
            Assert.True(s_body.Length > 2 * maxChunk);
            units.Add(Method(channel, new BasicGet(0, queue, NoAck: true)));

            // Unit i (0: header, 1: start-ok, 2: tune-ok, 3: open, 4: channel.open, 5: declare, 6: confirm.select)
            // owes these ordered replies once complete: the header the start, start-ok the tune, open the open-ok...
            int[] replies = new int[units.Count];
            int[] owed = [1, 2, 2, 3, 4, 5, 6];
            for (int i = 0; i < units.Count; i++)
            {
                replies[i] = i < owed.Length ? owed[i] : Synchronous.Length;
            }

            var ends = new int[units.Count];
            int position = 0;
            for (int i = 0; i < units.Count; i++)
            {
                position += units[i].Length;
                ends[i] = position;
            }

            var headerPayload = new byte[header.EncodedLength];
            header.WriteTo(headerPayload);
            return new Session(queue, channel, [.. units.SelectMany(u => u)], ends, replies, headerPayload);
        }

        /// <summary>How many ordered synchronous replies the first <paramref name="cut"/> bytes must have produced.</summary>
        public int SynchronousRepliesBefore(int cut)
        {
            int owed = 0;
            for (int i = 0; i < UnitEnds.Length && UnitEnds[i] <= cut; i++)
            {
                owed = UnitReplies[i];
            }

            return owed;
        }

        private static byte[] MakeBody()
        {
            // Two full frames of 4088 bytes and part of a third, every byte position distinguishable.
            var body = new byte[(2 * (int)(FrameMax - AmqpFrame.OverheadLength)) + 1001];
            new Random(20240611).NextBytes(body);
            return body;
        }

        private static byte[] Method<TMethod>(ushort channel, TMethod method)
            where TMethod : struct, IAmqpMethod => Write(o => FrameWriter.WriteMethod(o, channel, method, FrameMax));

        private static byte[] Write(Action<ArrayBufferWriter<byte>> write)
        {
            var output = new ArrayBufferWriter<byte>();
            write(output);
            return output.WrittenSpan.ToArray();
        }
    }

    /// <summary>Checks the broker's frames against what the session must produce, in order.</summary>
    private sealed class Replies(RawAmqpSocket socket, Session session, int synchronousSoFar)
    {
        private int _synchronous = synchronousSoFar;

        /// <summary>Reads the ordered handshake and channel replies up to <paramref name="count"/>.</summary>
        public async Task ExpectSynchronousAsync(int count)
        {
            while (_synchronous < count)
            {
                var frame = await NextAsync();
                var expected = Session.SynchronousReply(_synchronous);
                Assert.True(frame.Type == FrameType.Method, $"expected {AmqpMethodInfo.Name(expected)}, got a {frame.Type} frame");
                Assert.Equal(AmqpMethodInfo.Name(expected), Describe(frame));
                Assert.Equal(expected is AmqpMethodId.ConnectionStart or AmqpMethodId.ConnectionTune or AmqpMethodId.ConnectionOpenOk ? (ushort)0 : session.Channel, frame.Channel);
                switch (expected)
                {
                    case AmqpMethodId.ConnectionTune:
                        Assert.True(ConnectionTune.TryDecodeArguments(frame.Arguments, out var tune, out var tuneError), tuneError.ToString());
                        Assert.True(tune.FrameMax == 0 || tune.FrameMax >= FrameMax, $"offered frame-max {tune.FrameMax}");
                        break;
                    case AmqpMethodId.QueueDeclareOk:
                        Assert.True(QueueDeclareOk.TryDecodeArguments(frame.Arguments, out var declared, out var declareError), declareError.ToString());
                        Assert.Equal((session.Queue, 0u, 0u), (declared.Queue.ToString(), declared.MessageCount, declared.ConsumerCount));
                        break;
                }

                _synchronous++;
            }
        }

        /// <summary>All the session's replies: the ordered ones, then the confirm and the get-ok with its content, in either order.</summary>
        public async Task ExpectAllAsync()
        {
            await ExpectSynchronousAsync(Session.SynchronousCount);
            bool acked = false;
            bool got = false;
            while (!acked || !got)
            {
                var frame = await NextAsync();
                Assert.True(frame.Type == FrameType.Method, $"expected basic.ack or basic.get-ok, got a {frame.Type} frame");
                Assert.Equal(session.Channel, frame.Channel);
                if (frame.MethodId == AmqpMethodId.BasicAck && !acked)
                {
                    Assert.True(BasicAck.TryDecodeArguments(frame.Arguments, out var ack, out var error), error.ToString());
                    Assert.Equal((1ul, false), (ack.DeliveryTag, ack.Multiple));
                    acked = true;
                }
                else if (frame.MethodId == AmqpMethodId.BasicGetOk && !got)
                {
                    Assert.True(BasicGetOk.TryDecodeArguments(frame.Arguments, out var getOk, out var error), error.ToString());
                    Assert.Equal((1ul, false, "", session.Queue, 0u), (getOk.DeliveryTag, getOk.Redelivered, getOk.Exchange.ToString(), getOk.RoutingKey.ToString(), getOk.MessageCount));
                    await ExpectContentAsync();
                    got = true;
                }
                else
                {
                    Assert.Fail($"expected basic.ack or basic.get-ok, got {Describe(frame)}");
                }
            }
        }

        public async Task CloseConnectionAsync()
        {
            await socket.SendMethodAsync(0, new ConnectionClose(200, "bye", 0, 0));
            var frame = await NextAsync();
            Assert.Equal("connection.close-ok", Describe(frame));
        }

        private async Task ExpectContentAsync()
        {
            // The content follows its method with nothing in between on the channel (a confirm included), in frames
            // that respect the negotiated frame-max.
            var header = await NextAsync();
            Assert.Equal((FrameType.Header, session.Channel), (header.Type, header.Channel));
            Assert.Equal(Convert.ToHexString(session.Header), Convert.ToHexString(header.Payload));
            var body = new List<byte>();
            int frames = 0;
            while (body.Count < Session.Body.Length)
            {
                var frame = await NextAsync();
                Assert.True(frame.Type == FrameType.Body, $"body frame {frames + 1} expected, got {Describe(frame)}");
                Assert.Equal(session.Channel, frame.Channel);
                Assert.True(frame.Payload.Length + AmqpFrame.OverheadLength <= FrameMax, $"a {frame.Payload.Length}-byte body frame exceeds frame-max {FrameMax}");
                body.AddRange(frame.Payload);
                frames++;
            }

            Assert.Equal(3, frames);
            Assert.True(Session.Body.AsSpan().SequenceEqual(body.ToArray()), "the body came back different");
        }

        private async Task<RawFrame> NextAsync()
        {
            var frame = await socket.ReadFrameAsync(Wait) ?? throw new InvalidOperationException("the broker closed the socket");
            if (frame is { Type: FrameType.Method } && frame.MethodId is AmqpMethodId.ConnectionClose or AmqpMethodId.ChannelClose)
            {
                Assert.Fail($"the broker sent {Describe(frame)}");
            }

            return frame;
        }

        private static string Describe(RawFrame frame)
        {
            if (frame.Type != FrameType.Method)
            {
                return $"a {frame.Type} frame on channel {frame.Channel}";
            }

            if (frame.MethodId == AmqpMethodId.ConnectionClose && ConnectionClose.TryDecodeArguments(frame.Arguments, out var close, out _))
            {
                return $"connection.close {close.ReplyCode} {close.ReplyText}";
            }

            if (frame.MethodId == AmqpMethodId.ChannelClose && ChannelClose.TryDecodeArguments(frame.Arguments, out var channelClose, out _))
            {
                return $"channel.close {channelClose.ReplyCode} {channelClose.ReplyText}";
            }

            return AmqpMethodInfo.Name(frame.MethodId);
        }
    }
}
