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
/// A handler asks for its channel to be closed from another thread (a queue's delivery, holding the queue's and the
/// channel's locks). With inline I/O the connection's read loop resumes on whichever thread wakes it, so the request
/// must not wake it on the caller's thread: the close (the handler's disposal, which puts messages back) runs elsewhere.
/// </summary>
public sealed class ChannelCloseRequestTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task A_close_requested_from_another_thread_is_carried_out_by_the_read_loop_not_on_the_callers_thread()
    {
        // Inline readers, as Kestrel's with inline I/O: the read loop runs on whoever completes or cancels its read.
        var inline = new PipeOptions(readerScheduler: PipeScheduler.Inline, writerScheduler: PipeScheduler.Inline, useSynchronizationContext: false);
        var toServer = new Pipe(inline);
        var toClient = new Pipe(inline);
        var handlers = new Handlers();
        var server = new AmqpServer(new AmqpServerOptions(), new GuestOnLoopbackAuthenticator(), channelHandlers: handlers);
        var run = server.RunConnectionAsync(new DuplexPipe(toServer.Reader, toClient.Writer), new IPEndPoint(IPAddress.Loopback, 1234), CancellationToken.None);
        var reading = ServerReplies.ReadMethodsAsync(toClient.Reader);

        var client = new ArrayBufferWriter<byte>();
        ClientHandshake.WriteLogin(client);
        FrameWriter.WriteMethod(client, 1, new ChannelOpen(ShortString.Empty), 4096);
        await toServer.Writer.WriteAsync(client.WrittenMemory);
        var output = await handlers.Opened.Task.WaitAsync(Deadline);

        int caller = 0;
        var requesting = new Thread(() =>
        {
            caller = Environment.CurrentManagedThreadId;
            lock (handlers)
            {
                output.RequestClose(ChannelVerdict.CloseChannel(new AmqpError(ReplyCode.PreconditionFailed, "closed by a delivery")));
            }
        });
        requesting.Start();
        requesting.Join();

        int disposedOn = await handlers.Disposed.Task.WaitAsync(Deadline);
        Assert.NotEqual(caller, disposedOn);

        client.Clear();
        FrameWriter.WriteMethod(client, 1, default(ChannelCloseOk), 4096);
        FrameWriter.WriteMethod(client, 0, new ConnectionClose(200, "bye", 0, 0), 4096);
        await toServer.Writer.WriteAsync(client.WrittenMemory);
        await run.WaitAsync(Deadline);
        var replies = await reading.WaitAsync(Deadline);
        Assert.Contains((1, AmqpMethodId.ChannelClose), replies);
    }

    private sealed class Handlers : IAmqpChannelHandlerFactory
    {
        public TaskCompletionSource<ChannelOutput> Opened { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public TaskCompletionSource<int> Disposed { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public IAmqpChannelHandler Create(AmqpChannelContext context)
        {
            Opened.TrySetResult(context.Output);
            return new Handler(this);
        }

        private sealed class Handler(Handlers owner) : IAmqpChannelHandler
        {
            public ValueTask<ChannelVerdict> HandleMethodAsync(AmqpMethodId method, ReadOnlyMemory<byte> arguments, CancellationToken cancellationToken) =>
                ValueTask.FromResult(ChannelVerdict.Continue);

            public ValueTask<ChannelVerdict> HandleContentHeaderAsync(ContentHeader header, CancellationToken cancellationToken) =>
                ValueTask.FromResult(ChannelVerdict.Continue);

            public ValueTask<ChannelVerdict> HandleContentBodyAsync(ReadOnlySequence<byte> body, bool isLast, CancellationToken cancellationToken) =>
                ValueTask.FromResult(ChannelVerdict.Continue);

            public void AcksHandled()
            {
            }

            public ValueTask DisposeAsync()
            {
                owner.Disposed.TrySetResult(Environment.CurrentManagedThreadId);
                return ValueTask.CompletedTask;
            }
        }
    }
}
