using System.IO.Pipelines;
using Holdfast.Amqp.Connection;
using Holdfast.Broker.Sessions;

namespace Holdfast.Amqp.Tests.Connections;

/// <summary>
/// Where the outbox's writer runs. A frame sent inside a send batch stays pending until the batch ends and is then
/// written on the thread that ends it, before the end returns; a frame sent outside one is written by the thread pool.
/// </summary>
public sealed class FrameOutboxRingTests
{
    private const int HeartbeatBytes = 8;

    [Fact]
    public async Task A_frame_sent_inside_a_batch_is_written_when_the_batch_ends_on_that_thread()
    {
        var pipe = new Pipe(new PipeOptions(pauseWriterThreshold: 0));
        var outbox = new FrameOutbox(pipe.Writer, TimeProvider.System, 1 << 20);
        using var stop = new CancellationTokenSource();
        var writer = outbox.RunAsync(stop.Token);

        // The whole batch on a thread of its own: a batch must begin and end on one thread, and this one blocks.
        long before = -1, after = -1;
        bool rang = false;
        var batchThread = new Thread(() =>
        {
            var batch = new SendBatch();
            batch.Begin();
            rang = outbox.TrySendHeartbeat();

            // Nothing may wake another thread to write it meanwhile.
            Thread.Sleep(200);
            before = Take(pipe.Reader);
            batch.End();
            after = Take(pipe.Reader);
        });
        batchThread.Start();
        batchThread.Join();

        Assert.True(rang);
        Assert.Equal(0, before);
        Assert.Equal(HeartbeatBytes, after);
        await stop.CancelAsync();
        await writer;
    }

    [Fact]
    public async Task A_frame_sent_outside_a_batch_is_written_by_the_thread_pool()
    {
        var pipe = new Pipe();
        var outbox = new FrameOutbox(pipe.Writer, TimeProvider.System, 1 << 20);
        using var stop = new CancellationTokenSource();
        var writer = outbox.RunAsync(stop.Token);

        Assert.True(outbox.TrySendHeartbeat());
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var result = await pipe.Reader.ReadAtLeastAsync(HeartbeatBytes, timeout.Token);
        Assert.Equal(HeartbeatBytes, result.Buffer.Length);

        await stop.CancelAsync();
        await writer;
    }

    private static long Take(PipeReader reader)
    {
        if (!reader.TryRead(out var result))
        {
            return 0;
        }

        reader.AdvanceTo(result.Buffer.End);
        return result.Buffer.Length;
    }
}
