using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using Holdfast.Amqp.Channels;
using Holdfast.Amqp.Codec;
using Holdfast.Amqp.Connection;
using Holdfast.Amqp.Framing;
using Holdfast.Amqp.Tests.Support;

namespace Holdfast.Amqp.Tests.Connections;

/// <summary>
/// The connection's side of <see cref="IAmqpChannelHandler.AcksHandled"/>: a run of basic.ack frames ends, for every
/// channel that took acks in it, before the next frame of another kind and when the frames of a read are used up.
/// Frames go in as one write, so they are handled from one read; a recording handler shows the order of calls.
/// </summary>
public sealed class AckRunTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task A_run_of_acks_ends_for_each_channel_in_it_before_the_next_other_frame_and_at_the_end_of_the_read()
    {
        var calls = await RunAsync(client =>
        {
            Ack(client, 1, 1);
            Ack(client, 2, 1);
            Ack(client, 1, 2);
            FrameWriter.WriteMethod(client, 1, new BasicQos(0, 10, false), 4096);
            Ack(client, 2, 2);
        });

        Assert.Equal(
            [
                "1 basic.ack", "2 basic.ack", "1 basic.ack", "1 acks handled", "2 acks handled",
                "1 basic.qos",
                "2 basic.ack", "2 acks handled",
            ],
            calls);
    }

    [Fact]
    public async Task A_channel_without_acks_in_the_run_is_not_told_and_a_publish_ends_the_run_before_it()
    {
        var calls = await RunAsync(client =>
        {
            FrameWriter.WriteMethod(client, 2, new BasicQos(0, 1, false), 4096);
            Ack(client, 1, 1);
            FrameWriter.WriteMethod(client, 2, new BasicPublish(0, ShortString.Empty, "q", false, false), 4096);
            FrameWriter.WriteContentHeader(client, 2, new ContentHeader(0, default), 4096);
        });

        Assert.Equal(["2 basic.qos", "1 basic.ack", "1 acks handled", "2 basic.publish", "2 content header"], calls);
    }

    private static void Ack(ArrayBufferWriter<byte> client, ushort channel, ulong tag) =>
        FrameWriter.WriteMethod(client, channel, new BasicAck(tag, false), 4096);

    /// <summary>Opens channels 1 and 2, writes what <paramref name="frames"/> adds and a connection.close in one go, and returns the handlers' calls after the opens.</summary>
    private static async Task<List<string>> RunAsync(Action<ArrayBufferWriter<byte>> frames)
    {
        var toServer = new Pipe();
        var toClient = new Pipe();
        var handlers = new RecordingHandlers();
        var server = new AmqpServer(new AmqpServerOptions(), new GuestOnLoopbackAuthenticator(), channelHandlers: handlers);
        var run = server.RunConnectionAsync(new DuplexPipe(toServer.Reader, toClient.Writer), new IPEndPoint(IPAddress.Loopback, 1234), CancellationToken.None);
        var reading = DrainAsync(toClient.Reader);

        var client = new ArrayBufferWriter<byte>();
        ClientHandshake.WriteLogin(client);
        FrameWriter.WriteMethod(client, 1, new ChannelOpen(ShortString.Empty), 4096);
        FrameWriter.WriteMethod(client, 2, new ChannelOpen(ShortString.Empty), 4096);
        frames(client);
        FrameWriter.WriteMethod(client, 0, new ConnectionClose(200, "bye", 0, 0), 4096);
        await toServer.Writer.WriteAsync(client.WrittenMemory);

        await run.WaitAsync(Deadline);
        await reading.WaitAsync(Deadline);
        return [.. handlers.Calls.Where(call => !call.EndsWith(" disposed", StringComparison.Ordinal))];
    }

    private static async Task DrainAsync(PipeReader reader)
    {
        while (true)
        {
            var result = await reader.ReadAsync();
            reader.AdvanceTo(result.Buffer.End);
            if (result.IsCompleted)
            {
                return;
            }
        }
    }

    private sealed class RecordingHandlers : IAmqpChannelHandlerFactory
    {
        public List<string> Calls { get; } = [];

        public IAmqpChannelHandler Create(AmqpChannelContext context) => new Handler(context.ChannelNumber, Calls);

        private sealed class Handler(ushort channel, List<string> calls) : IAmqpChannelHandler
        {
            public ValueTask<ChannelVerdict> HandleMethodAsync(AmqpMethodId method, ReadOnlyMemory<byte> arguments, CancellationToken cancellationToken)
            {
                calls.Add($"{channel} {AmqpMethodInfo.Name(method)}");
                return ValueTask.FromResult(ChannelVerdict.Continue);
            }

            public ValueTask<ChannelVerdict> HandleContentHeaderAsync(ContentHeader header, CancellationToken cancellationToken)
            {
                calls.Add($"{channel} content header");
                return ValueTask.FromResult(ChannelVerdict.Continue);
            }

            public ValueTask<ChannelVerdict> HandleContentBodyAsync(ReadOnlySequence<byte> body, bool isLast, CancellationToken cancellationToken) =>
                ValueTask.FromResult(ChannelVerdict.Continue);

            public void AcksHandled() => calls.Add($"{channel} acks handled");

            public ValueTask DisposeAsync()
            {
                calls.Add($"{channel} disposed");
                return ValueTask.CompletedTask;
            }
        }
    }
}
