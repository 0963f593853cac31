using System.Text;
using Holdfast.Storage.Log;
using Holdfast.Testing;

namespace Holdfast.Storage.Tests;

public sealed class StoreBasicsTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private StoreOptions Options(long segmentSize = 1 << 20) => new()
    {
        Directory = _dir.Path,
        SegmentSizeBytes = segmentSize,
        AutoCompact = false,
    };

    [Fact]
    public async Task Appended_messages_are_read_back_in_order_and_survive_reopen()
    {
        await using (var store = await MessageStore.OpenAsync(Options()))
        {
            var queue = await store.DeclareQueueAsync("orders");
            for (var i = 0; i < 100; i++)
            {
                await store.AppendAsync([queue], Encoding.UTF8.GetBytes($"m{i}"));
            }
        }

        await using (var store = await MessageStore.OpenAsync(Options()))
        {
            var queue = store.FindQueue("orders");
            Assert.NotNull(queue);
            Assert.Equal(100, queue.MessageCount);
            for (var i = 0; i < 100; i++)
            {
                Assert.True(store.TryReadNext(queue, out var message));
                using (message)
                {
                    Assert.Equal($"m{i}", Encoding.UTF8.GetString(message!.Payload.Span));
                    Assert.Equal(i, message.Seq);
                }
            }

            Assert.False(store.TryReadNext(queue, out _));
        }
    }

    [Fact]
    public async Task Acked_messages_do_not_come_back_and_requeued_ones_count_deliveries()
    {
        await using (var store = await MessageStore.OpenAsync(Options()))
        {
            var queue = await store.DeclareQueueAsync("q");
            for (var i = 0; i < 10; i++)
            {
                await store.AppendAsync([queue], new[] { (byte)i });
            }

            var delivered = new List<long>();
            while (store.TryReadNext(queue, out var m))
            {
                delivered.Add(m!.Seq);
                m.Dispose();
            }

            Assert.Equal(10, delivered.Count);
            await store.AckAsync(queue, delivered.Where(s => s % 2 == 0).ToArray());
            await store.RequeueAsync(queue, 3);
        }

        await using (var store = await MessageStore.OpenAsync(Options()))
        {
            var queue = store.FindQueue("q")!;
            Assert.Equal(5, queue.MessageCount);
            var seen = new List<(long Seq, int Count)>();
            while (store.TryReadNext(queue, out var m))
            {
                using (m)
                {
                    seen.Add((m!.Seq, m.DeliveryCount));
                }
            }

            Assert.Equal(new (long, int)[] { (1, 0), (3, 1), (5, 0), (7, 0), (9, 0) }, seen);
        }
    }

    [Fact]
    public async Task One_message_to_ten_queues_is_one_record()
    {
        await using var store = await MessageStore.OpenAsync(Options());
        var queues = new StoredQueue[10];
        for (var i = 0; i < queues.Length; i++)
        {
            queues[i] = await store.DeclareQueueAsync($"q{i}");
        }

        var before = store.GetStatistics().WrittenEnd;
        var seqs = new long[10];
        await store.AppendAsync(queues, new byte[1000], seqs);
        var written = store.GetStatistics().WrittenEnd - before;
        Assert.InRange(written, 1000, 1000 + RecordFormat.HeaderSize + 2 + (10 * 12) + 8);
        Assert.All(seqs, s => Assert.Equal(0, s));
        foreach (var q in queues)
        {
            Assert.True(store.TryReadNext(q, out var m));
            m!.Dispose();
        }
    }

    [Fact]
    public async Task Checkpoint_then_reopen_replays_nothing()
    {
        await using (var store = await MessageStore.OpenAsync(Options()))
        {
            var queue = await store.DeclareQueueAsync("q");
            for (var i = 0; i < 50; i++)
            {
                await store.AppendAsync([queue], new byte[100]);
            }

            await store.CheckpointAsync();
        }

        await using (var store = await MessageStore.OpenAsync(Options()))
        {
            Assert.Equal(0, store.Recovery.RecordsRecovered);
            Assert.Equal(50, store.FindQueue("q")!.MessageCount);
        }
    }

    [Fact]
    public async Task Segments_roll_and_dead_ones_are_deleted_after_checkpoints()
    {
        await using var store = await MessageStore.OpenAsync(Options(segmentSize: 64 * 1024));
        var queue = await store.DeclareQueueAsync("q");
        var seqs = new long[1];
        var tasks = new List<Task>();
        for (var i = 0; i < 1000; i++)
        {
            tasks.Add(store.AppendAsync([queue], new byte[1000], seqs).AsTask());
        }

        await Task.WhenAll(tasks);
        Assert.True(store.GetStatistics().Segments > 10);
        while (store.TryReadNext(queue, out var m))
        {
            await store.AckAsync(queue, m!.Seq, FlushPolicy.Async);
            m.Dispose();
        }

        await store.CheckpointAsync();
        await store.CheckpointAsync();
        Assert.Equal(1, store.GetStatistics().Segments);
        Assert.Equal(0, queue.MessageCount);
    }
}
