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

    private static byte[] TestBytes(int i) => [(byte)i, 1, 2, 3];
}
