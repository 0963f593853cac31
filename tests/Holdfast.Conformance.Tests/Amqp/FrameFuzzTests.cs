using System.Buffers;
using System.Diagnostics;
using System.Net.Sockets;
using Holdfast.Amqp.Codec;
using Holdfast.Amqp.Framing;
using Holdfast.Conformance.Tests.Support;
using RabbitMQ.Client;
using Xunit.Abstractions;

namespace Holdfast.Conformance.Tests.Amqp;

/// <summary>
/// Random and mutated frames from many sockets at once, before and after the handshake, while a
/// well-behaved client works on its own connection. The broker must neither fall over nor let one
/// connection's garbage touch another. Seeded: set HOLDFAST_FUZZ_SEED to replay a failure.
/// </summary>
public sealed class FrameFuzzTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Budget = TimeSpan.FromSeconds(8);
    private const int Workers = 6;
    private const int MaxIterationsPerWorker = 150;

    [Fact]
    public async Task Hostile_input_leaves_the_broker_up_and_other_connections_working()
    {
        int seed = int.TryParse(Environment.GetEnvironmentVariable("HOLDFAST_FUZZ_SEED"), out int fixedSeed) ? fixedSeed : Random.Shared.Next();
        output.WriteLine($"fuzz seed {seed} (replay with HOLDFAST_FUZZ_SEED={seed})");
        try
        {
            await RunAsync(seed);
        }
        catch (Exception ex)
        {
            throw new InvalidOperationException($"Fuzzing failed with seed {seed} (replay with HOLDFAST_FUZZ_SEED={seed}).", ex);
        }
    }

    private static async Task RunAsync(int seed)
    {
        await using var broker = await InProcessBroker.StartAsync(o => o with { HandshakeTimeout = TimeSpan.FromSeconds(2), CloseTimeout = TimeSpan.FromSeconds(1) });
        await using var healthy = await broker.Factory().CreateConnectionAsync();
        var clock = Stopwatch.StartNew();

        var attackers = Enumerable.Range(0, Workers).Select(i => AttackAsync(broker.Port, new Random(seed + i), clock)).ToArray();
        int rounds = 0;
        while (!attackers.All(a => a.IsCompleted))
        {
            await using var channel = await healthy.CreateChannelAsync();
            Assert.True(channel.IsOpen);
            await channel.CloseAsync();
            rounds++;
        }

        int iterations = (await Task.WhenAll(attackers)).Sum();
        Assert.True(healthy.IsOpen, healthy.CloseReason?.ToString());
        Assert.True(rounds > 0);
        Assert.True(iterations > 0);

        await using var late = await broker.Factory().CreateConnectionAsync();
        await using var lateChannel = await late.CreateChannelAsync();
        Assert.True(lateChannel.IsOpen);
    }

    private static async Task<int> AttackAsync(int port, Random random, Stopwatch clock)
    {
        int iteration = 0;
        for (; iteration < MaxIterationsPerWorker && clock.Elapsed < Budget; iteration++)
        {
            try
            {
                await using var socket = await RawAmqpSocket.ConnectAsync(port);
                switch (random.Next(3))
                {
                    case 0:
                        await socket.SendAsync(RandomBytes(random, random.Next(1, 64)));
                        break;
                    case 1:
                        await socket.SendAsync(ProtocolHeader.Amqp091.ToArray());
                        await socket.SendAsync(Mutate(random, ValidFrames()[random.Next(ValidFrames().Length)]));
                        break;
                    default:
                        await socket.HandshakeAsync();
                        for (int i = random.Next(1, 8); i > 0; i--)
                        {
                            byte[] frame = ValidFrames()[random.Next(ValidFrames().Length)];
                            await socket.SendAsync(random.Next(3) == 0 ? frame : Mutate(random, frame));
                        }

                        break;
                }

                // Read whatever comes back for a moment, then hang up (sometimes abruptly mid-exchange).
                if (random.Next(2) == 0)
                {
                    await socket.ReadToEndAsync(TimeSpan.FromMilliseconds(random.Next(10, 200)));
                }
            }
            catch (Exception ex) when (ex is SocketException or IOException or OperationCanceledException or InvalidOperationException)
            {
                // The broker may hang up on us, or send a close we did not wait for: that is its right.
            }
        }

        return iteration;
    }

    private static byte[][] ValidFrames()
    {
        return s_frames ??= Build();

        static byte[][] Build()
        {
            var frames = new List<byte[]>();
            void Add(Action<ArrayBufferWriter<byte>> write)
            {
                var output = new ArrayBufferWriter<byte>();
                write(output);
                frames.Add(output.WrittenSpan.ToArray());
            }

            Add(o => FrameWriter.WriteMethod(o, 1, new ChannelOpen(ShortString.Empty), 4096));
            Add(o => FrameWriter.WriteMethod(o, 1, new ChannelFlow(false), 4096));
            Add(o => FrameWriter.WriteMethod(o, 1, new ChannelClose(200, "bye", 0, 0), 4096));
            Add(o => FrameWriter.WriteMethod(o, 2, new QueueDeclare(0, "q", false, true, false, false, false, FieldTable.Empty), 4096));
            Add(o => FrameWriter.WriteContent(o, 1, new BasicPublish(0, "", "q", false, false), default, new ReadOnlySequence<byte>(new byte[5000]), 4096));
            Add(o => FrameWriter.WriteMethod(o, 0, new ConnectionStartOk(FieldTable.Empty, "PLAIN", new LongString("\0guest\0guest"u8.ToArray()), "en_US"), 4096));
            Add(o => FrameWriter.WriteMethod(o, 0, new ConnectionTuneOk(0, 0, 0), 4096));
            Add(o => FrameWriter.WriteMethod(o, 0, new ConnectionClose(200, "bye", 0, 0), 4096));
            Add(o => FrameWriter.WriteHeartbeat(o));
            Add(o => FrameWriter.WriteContentHeader(o, 1, new ContentHeader(ulong.MaxValue, default), 4096));
            return [.. frames];
        }
    }

    private static byte[][]? s_frames;

    private static byte[] Mutate(Random random, byte[] frame)
    {
        byte[] copy = (byte[])frame.Clone();
        switch (random.Next(5))
        {
            case 0:
                // Flip a few bytes anywhere: type, channel, size, arguments or frame-end.
                for (int i = random.Next(1, 4); i > 0; i--)
                {
                    copy[random.Next(copy.Length)] ^= (byte)random.Next(1, 256);
                }

                return copy;
            case 1:
                return copy[..random.Next(1, copy.Length)];
            case 2:
                // A huge announced size: must be refused before anything is buffered for it.
                copy[3] = 0x7F;
                return copy;
            case 3:
                return [.. copy, .. RandomBytes(random, random.Next(1, 32))];
            default:
                return RandomBytes(random, random.Next(1, 300));
        }
    }

    private static byte[] RandomBytes(Random random, int length)
    {
        byte[] bytes = new byte[length];
        random.NextBytes(bytes);
        return bytes;
    }
}
