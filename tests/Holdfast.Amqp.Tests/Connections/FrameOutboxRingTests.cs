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
        var (before, after) = RunOnOwnThread(() =>
        {
            var batch = new SendBatch();
            batch.Begin();
            Assert.True(outbox.TrySendHeartbeat());

            // Nothing may wake another thread to write it meanwhile.
            Thread.Sleep(200);
            long writtenBefore = Take(pipe.Reader);
            batch.End();
            return (writtenBefore, Take(pipe.Reader));
        });

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

    private static (long Before, long After) RunOnOwnThread(Func<(long, long)> body)
    {
        (long, long) value = default;
        Exception? failure = null;
        var thread = new Thread(() =>
        {
            try
            {
                value = body();
            }
#pragma warning disable CA1031 // Rethrown on the test's thread below.
            catch (Exception ex)
#pragma warning restore CA1031
            {
                failure = ex;
            }
        });
        thread.Start();
        thread.Join();
        if (failure is not null)
        {
            throw new InvalidOperationException("the batch thread failed", failure);
        }

        return value;
    }
}
