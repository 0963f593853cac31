using Holdfast.Testing;

namespace Holdfast.Storage.Tests.Operations;

/// <summary>An unobserved ack is an Async ack nobody waits for: written with the next batch, applied, and kept across a restart.</summary>
public sealed class UnobservedAckTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Theory]
    [InlineData(ReopenMode.AfterClose)]
    [InlineData(ReopenMode.FromCrashImage)]
    public async Task An_unobserved_ack_is_written_and_applied_like_any_other(ReopenMode mode)
    {
        var store = await MessageStore.OpenAsync(new StoreOptions { Directory = Path.Combine(_dir.Path, "store"), SegmentSizeBytes = 1 << 20 });
        try
        {
            var queue = await store.DeclareQueueAsync("q");
            var seqs = new long[1];
            for (var i = 0; i < 5; i++)
            {
                await store.AppendAsync([queue], TestBytes(i), seqs);
            }

            store.AckUnobserved(queue, [1L, 3L]);

            // Written with the next batch: a synced append after it means it has been applied.
            await store.AppendAsync([queue], TestBytes(5), seqs, FlushPolicy.Sync);
            Assert.Equal([0L, 2L, 4L, 5L], store.ListLive(queue).Select(e => e.Seq));

            store = await Reopen.Async(store, mode);
            Assert.Equal([0L, 2L, 4L, 5L], store.ListLive(store.FindQueue("q")!).Select(e => e.Seq));
        }
        finally
        {
            await store.DisposeAsync();
        }
    }

    [Fact]
    public async Task An_unobserved_ack_of_a_message_the_queue_never_had_is_refused()
    {
        await using var store = await MessageStore.OpenAsync(new StoreOptions { Directory = Path.Combine(_dir.Path, "store"), SegmentSizeBytes = 1 << 20 });
        var queue = await store.DeclareQueueAsync("q");
        Assert.Throws<ArgumentOutOfRangeException>(() => store.AckUnobserved(queue, [0L]));
    }

    [Fact]
    public async Task Unobserved_acks_alone_linger_until_an_observed_append_takes_them()
    {
        // A linger no test outlives: only the observed append can have written the acks.
        var store = await OpenAsync(TimeSpan.FromHours(1));
        await using var _ = store;
        var queue = await FillAsync(store, 5);
        var before = store.GetStatistics().WrittenEnd;

        store.AckUnobserved(queue, [1L]);
        store.AckUnobserved(queue, [3L]);
        await Task.Delay(200);
        Assert.Equal(before, store.GetStatistics().WrittenEnd);

        await store.AppendAsync([queue], TestBytes(5), new long[1], FlushPolicy.Async);
        Assert.Equal([0L, 2L, 4L, 5L], store.ListLive(queue).Select(e => e.Seq));
    }

    [Fact]
    public async Task Lingering_unobserved_acks_are_written_when_the_linger_ends()
    {
        var store = await OpenAsync(TimeSpan.FromMilliseconds(50));
        await using var _ = store;
        var queue = await FillAsync(store, 3);
        var before = store.GetStatistics().WrittenEnd;

        store.AckUnobserved(queue, [0L, 2L]);

        await WaitUntilAsync(() => store.GetStatistics().WrittenEnd > before);
        Assert.Equal([1L], store.ListLive(queue).Select(e => e.Seq));
    }

    [Fact]
    public async Task Unobserved_acks_past_the_byte_cap_are_written_without_waiting_for_the_linger()
    {
        var store = await OpenAsync(TimeSpan.FromHours(1), lingerBytes: 1024);
        await using var _ = store;
        var queue = await FillAsync(store, 100);
        var before = store.GetStatistics().WrittenEnd;

        // One record per ack, about 40 bytes each: the cap is passed well before the hundredth.
        for (var seq = 0L; seq < 100; seq++)
        {
            store.AckUnobserved(queue, [seq]);
        }

        await WaitUntilAsync(() => store.GetStatistics().WrittenEnd > before);
        Assert.True(store.ListLive(queue).Count < 100);
    }

    [Theory]
    [InlineData(ReopenMode.AfterClose, new long[] { 0, 2 })]
    [InlineData(ReopenMode.FromCrashImage, new long[] { 0, 1, 2 })]
    public async Task Lingering_unobserved_acks_are_written_at_close_and_lost_in_a_crash_as_redeliveries(ReopenMode mode, long[] liveAfter)
    {
        var store = await OpenAsync(TimeSpan.FromHours(1));
        try
        {
            var queue = await FillAsync(store, 3);
            store.AckUnobserved(queue, [1L]);

            // A crash loses the lingering ack, never a message: the acked one comes back, to be delivered again.
            store = await Reopen.Async(store, mode);
            Assert.Equal(liveAfter, store.ListLive(store.FindQueue("q")!).Select(e => e.Seq));
        }
        finally
        {
            await store.DisposeAsync();
        }
    }

    private Task<MessageStore> OpenAsync(TimeSpan linger, int lingerBytes = 64 * 1024) =>
        MessageStore.OpenAsync(new StoreOptions
        {
            Directory = Path.Combine(_dir.Path, "store"),
            SegmentSizeBytes = 1 << 20,
            UnobservedLinger = linger,
            UnobservedLingerBytes = lingerBytes,
        });

    private static async Task<StoredQueue> FillAsync(MessageStore store, int count)
    {
        var queue = await store.DeclareQueueAsync("q");
        var seqs = new long[1];
        for (var i = 0; i < count; i++)
        {
            await store.AppendAsync([queue], TestBytes(i), seqs, FlushPolicy.Sync);
        }

        return queue;
    }

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "not written within 10 s");
            await Task.Delay(10);
        }
    }

    private static byte[] TestBytes(int i) => [(byte)i, 1, 2, 3];
}
