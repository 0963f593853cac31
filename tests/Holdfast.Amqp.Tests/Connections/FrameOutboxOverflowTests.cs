using System.IO.Pipelines;
using System.Diagnostics;
using Holdfast.Amqp.Connection;

namespace Holdfast.Amqp.Tests.Connections;

/// <summary>
/// A client that stops reading: the output bound is hit once, the connection's owner hears of it at
/// once, and no frame goes out after one was refused, so the client never sees a gap mid-stream.
/// </summary>
public sealed class FrameOutboxOverflowTests
{
    private const int MaxPendingBytes = 4096;

    [Fact]
    public async Task After_a_frame_is_refused_for_overflow_nothing_more_goes_out_even_once_the_socket_drains()
    {
        var pipe = new Pipe();
        var overflows = 0;
        var outbox = new FrameOutbox(pipe.Writer, TimeProvider.System, MaxPendingBytes, () => Interlocked.Increment(ref overflows));

        // Nobody writes the pending frames out yet: the bound is reached with heartbeats alone.
        var sent = 0;
        while (outbox.TrySendHeartbeat())
        {
            sent++;
            Assert.True(sent < 10_000, "the output bound was never reached");
        }

        Assert.True(outbox.Overflowed);
        var told = Stopwatch.StartNew();
        while (Volatile.Read(ref overflows) == 0 && told.Elapsed < TimeSpan.FromSeconds(10))
        {
            await Task.Delay(10);
        }

        Assert.Equal(1, Volatile.Read(ref overflows));

        // The socket catches up: every pending byte is written and read.
        using var stop = new CancellationTokenSource();
        var writer = outbox.RunAsync(stop.Token);
        long read = 0;
        while (read < sent * 8L)
        {
            var result = await pipe.Reader.ReadAsync();
            read += result.Buffer.Length;
            pipe.Reader.AdvanceTo(result.Buffer.End);
        }

        Assert.Equal(sent * 8L, read);
        Assert.False(outbox.TrySendHeartbeat());
        Assert.Equal(1, Volatile.Read(ref overflows));

        await stop.CancelAsync();
        await writer;
    }
}
