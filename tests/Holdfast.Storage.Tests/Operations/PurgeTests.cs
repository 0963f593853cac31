using System.Text;
using Holdfast.Testing;

namespace Holdfast.Storage.Tests.Operations;

public sealed class PurgeTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private StoreOptions Options() => new() { Directory = Path.Combine(_dir.Path, "store"), SegmentSizeBytes = 1 << 20, AutoCompact = false };

    [Theory]
    [InlineData(ReopenMode.AfterClose)]
    [InlineData(ReopenMode.FromCrashImage)]
    public async Task Purge_removes_ready_messages_keeps_delivered_ones_until_acked_or_requeued_and_survives_reopen(ReopenMode mode)
    {
        var store = await MessageStore.OpenAsync(Options());
        try
        {
            var queue = await store.DeclareQueueAsync("q");
            for (var i = 0; i < 10; i++)
            {
                await store.AppendAsync([queue], Encoding.UTF8.GetBytes($"m{i}"));
            }

            Assert.Equal([0L, 1, 2], Deliver(store, queue, 3));

            Assert.Equal(7, await store.PurgeAsync(queue));
            Assert.Equal(3, queue.MessageCount);
            Assert.Equal(0, queue.ReadyCount);
            Assert.False(store.TryReadNext(queue, out _));
            Assert.Equal([0L, 1, 2], store.ReadRange(queue, 0, 100).Select(Seq).ToArray());

            // The delivered ones are still the consumer's to settle.
            await store.AckAsync(queue, 0);
            await store.RequeueAsync(queue, 1);
            Assert.Equal(2, queue.MessageCount);
            Assert.Equal(1, queue.ReadyCount);

            // Appends after the purge are kept.
            await store.AppendAsync([queue], "after"u8);
            Assert.Equal(0, await store.PurgeAsync(await store.DeclareQueueAsync("empty")));

            store = await Reopen.Async(store, mode);
            queue = store.FindQueue("q")!;
            Assert.Equal(3, queue.MessageCount);
            var seen = new List<(long, int, string)>();
            while (store.TryReadNext(queue, out var message))
            {
                using (message)
                {
                    seen.Add((message!.Seq, message.DeliveryCount, Encoding.UTF8.GetString(message.Payload.Span)));
                }
            }

            // 1 was requeued (one more delivery), 2 was delivered and never settled (ready again after the restart).
            Assert.Equal([(1L, 1, "m1"), (2L, 0, "m2"), (10L, 0, "after")], seen);
        }
        finally
        {
            await store.DisposeAsync();
        }
    }

    [Fact]
    public async Task Purge_counts_only_ready_messages()
    {
        await using var store = await MessageStore.OpenAsync(Options());
        var queue = await store.DeclareQueueAsync("q");
        for (var i = 0; i < 5; i++)
        {
            await store.AppendAsync([queue], new byte[10]);
        }

        await store.AckAsync(queue, 4);
        Assert.Equal([0L], Deliver(store, queue, 1));
        Assert.Equal(3, await store.PurgeAsync(queue));
        Assert.Equal(0, await store.PurgeAsync(queue));
        Assert.Equal(1, queue.MessageCount);
    }

    private static long Seq(StoredMessage message)
    {
        message.Dispose();
        return message.Seq;
    }

    private static List<long> Deliver(MessageStore store, StoredQueue queue, int count)
    {
        var seqs = new List<long>();
        for (var i = 0; i < count && store.TryReadNext(queue, out var message); i++)
        {
            seqs.Add(message!.Seq);
            message.Dispose();
        }

        return seqs;
    }
}
