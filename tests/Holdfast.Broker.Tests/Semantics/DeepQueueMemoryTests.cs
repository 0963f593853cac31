using System.Text;
using Holdfast.Broker.Queues;
using Holdfast.Testing;

namespace Holdfast.Broker.Tests.Semantics;

/// <summary>
/// A deep durable queue keeps only its head's bodies in memory: the rest are read back from the
/// store when they near delivery. Nothing changes for a client: every message arrives, in order, whole,
/// and byte limits still count every message at its size.
/// </summary>
public sealed class DeepQueueMemoryTests
{
    private const int BodyBytes = 1000;
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task Bodies_behind_the_head_leave_memory_once_written_and_come_back_in_order_when_consumed()
    {
        await using var harness = await BrokerHarness.StartAsync();
        await harness.DeclareQueueAsync("deep");
        var (channel, events) = harness.OpenChannel();
        channel.SelectConfirms();
        const int count = MessageQueue.ResidentReadyMessages * 3;
        for (var i = 0; i < count; i++)
        {
            channel.Publish(BrokerHarness.Message("", "deep", Body(i)), mandatory: true);
        }

        await Eventually.TrueAsync(() => Confirmed(events) == count, Wait, "every publish confirmed");
        channel.Publish(BrokerHarness.Message("", "deep", Body(count)), mandatory: true); // a last one sweeps what the others left

        // About the head's worth of bodies stay (plus the ones whose writes were still in flight at the last sweep).
        var held = harness.Broker.Memory.HeldBytes;
        Assert.InRange(held, (MessageQueue.ResidentReadyMessages - 1) * (long)BodyBytes, (count / 2) * (long)BodyBytes);

        for (var i = 0; i <= count; i++)
        {
            var got = channel.Get("deep", noAck: true);
            Assert.NotNull(got);
            Assert.Equal(Body(i), Encoding.UTF8.GetString(got.Message.Body.Span));
        }

        Assert.Null(channel.Get("deep", noAck: true));
        Assert.Equal(0, harness.Broker.Memory.HeldBytes);
    }

    [Fact]
    public async Task A_byte_limit_counts_a_released_message_at_its_full_size()
    {
        await using var harness = await BrokerHarness.StartAsync();
        const int limitMessages = MessageQueue.ResidentReadyMessages * 2;
        await harness.DeclareQueueAsync("bounded", true, ("x-max-length-bytes", limitMessages * (long)BodyBytes));
        var (channel, events) = harness.OpenChannel();
        channel.SelectConfirms();
        for (var i = 0; i < limitMessages + 100; i++)
        {
            channel.Publish(BrokerHarness.Message("", "bounded", Body(i)), mandatory: true);
        }

        await Eventually.TrueAsync(() => Confirmed(events) == limitMessages + 100, Wait, "every publish confirmed");
        var queue = harness.Vhost.FindQueue("bounded")!;
        Assert.Equal(limitMessages, queue.ReadyCount);

        // Taking released messages out (the head's resident ones and well beyond) must free their full
        // size: the limit then admits exactly as many again, dropping nothing more from the head.
        const int taken = MessageQueue.ResidentReadyMessages + 500;
        for (var i = 0; i < taken; i++)
        {
            Assert.NotNull(channel.Get("bounded", noAck: true));
        }

        for (var i = 0; i < taken; i++)
        {
            channel.Publish(BrokerHarness.Message("", "bounded", Body(100_000 + i)), mandatory: true);
        }

        await Eventually.TrueAsync(() => Confirmed(events) == limitMessages + 100 + taken, Wait, "the refills confirmed");
        Assert.Equal(limitMessages, queue.ReadyCount);
        Assert.Equal(Body(100 + taken), Encoding.UTF8.GetString(channel.Get("bounded", noAck: true)!.Message.Body.Span));
    }

    /// <summary>Confirms arrive in order (runs as "multiple"), so the highest acked sequence number is the count confirmed.</summary>
    private static long Confirmed(RecordingEvents events) => events.Confirms.Where(c => c.Ack).Select(c => (long)c.Sequence).DefaultIfEmpty(0L).Max();

    /// <summary>A body of exactly <see cref="BodyBytes"/> bytes that names its message.</summary>
    private static string Body(int i) => $"m{i:D7}-".PadRight(BodyBytes, 'x');
}
