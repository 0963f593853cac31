using System.Globalization;
using Holdfast.Testing;

namespace Holdfast.Storage.Tests.Operations;

public sealed class DeleteQueueTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private StoreOptions Options() => new() { Directory = Path.Combine(_dir.Path, "store"), SegmentSizeBytes = 1 << 20, AutoCompact = false };

    [Theory]
    [InlineData(ReopenMode.AfterClose)]
    [InlineData(ReopenMode.FromCrashImage)]
    public async Task A_deleted_queue_is_gone_and_stays_gone_after_reopen(ReopenMode mode)
    {
        var store = await MessageStore.OpenAsync(Options());
        try
        {
            var doomed = await store.DeclareQueueAsync("doomed");
            var kept = await store.DeclareQueueAsync("kept");
            await store.AppendAsync([doomed, kept], "both"u8);
            await store.AppendAsync([doomed], "doomed only"u8);
            await store.CheckpointAsync();
            await store.AppendAsync([doomed], "after the checkpoint"u8);

            await store.DeleteQueueAsync(doomed);
            Assert.True(doomed.IsDeleted);
            Assert.Null(store.FindQueue("doomed"));
            Assert.Equal(["kept"], store.Queues.Select(q => q.Name));
            Assert.False(store.TryReadNext(doomed, out _));

            // A message for a deleted queue and a live one goes to the live one only.
            var seqs = new long[2];
            await store.AppendAsync([doomed, kept], "late"u8, seqs);
            Assert.Equal([-1L, 1], seqs);

            store = await Reopen.Async(store, mode);
            Assert.Null(store.FindQueue("doomed"));
            Assert.Equal(["kept"], store.Queues.Select(q => q.Name));
            Assert.Equal(2, store.FindQueue("kept")!.MessageCount);

            var again = await store.DeclareQueueAsync("doomed");
            Assert.NotEqual(doomed.Id, again.Id);
            Assert.Equal(0, again.MessageCount);
            Assert.Empty(store.ReadRange(again, 0, 10));
        }
        finally
        {
            await store.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_deleted_queues_index_directory_is_removed_at_the_second_checkpoint_after_the_delete()
    {
        await using var store = await MessageStore.OpenAsync(Options());
        var queue = await store.DeclareQueueAsync("doomed");
        await store.AppendAsync([queue], new byte[100]);
        await store.CheckpointAsync();
        var indexDirectory = IndexDirectory(store, queue);
        Assert.True(Directory.Exists(indexDirectory));

        await store.DeleteQueueAsync(queue);
        await store.CheckpointAsync();
        // The previous checkpoint still lists the queue; falling back to it needs the index.
        Assert.True(Directory.Exists(indexDirectory));

        await store.CheckpointAsync();
        Assert.False(Directory.Exists(indexDirectory));
    }

    [Fact]
    public async Task A_deleted_queues_index_directory_is_removed_even_when_the_store_crashed_between_the_two_checkpoints()
    {
        var store = await MessageStore.OpenAsync(Options());
        try
        {
            var queue = await store.DeclareQueueAsync("doomed");
            await store.AppendAsync([queue], new byte[100]);
            await store.CheckpointAsync();
            await store.DeleteQueueAsync(queue);
            await store.CheckpointAsync();

            store = await Reopen.Async(store, ReopenMode.FromCrashImage);
            var indexDirectory = IndexDirectory(store, queue);
            Assert.True(Directory.Exists(indexDirectory));

            await store.CheckpointAsync();
            await store.CheckpointAsync();
            Assert.False(Directory.Exists(indexDirectory), "the index of a queue deleted before the crash is never removed");
        }
        finally
        {
            await store.DisposeAsync();
        }
    }

    private static string IndexDirectory(MessageStore store, StoredQueue queue) =>
        Path.Combine(store.Options.Directory, "queues", queue.Id.ToString("D10", CultureInfo.InvariantCulture));
}
