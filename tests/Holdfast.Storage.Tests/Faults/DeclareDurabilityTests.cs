using Holdfast.Testing;

namespace Holdfast.Storage.Tests.Faults;

/// <summary>
/// A queue the store says it declared under Sync must exist after any crash: declaring a queue that
/// exists only in memory (its record written but not synced, or lost to a failed fsync) must not
/// report success before the record is on disk.
/// </summary>
public sealed class DeclareDurabilityTests
{
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_Sync_declare_of_a_queue_declared_Async_completes_only_once_the_queue_is_on_disk(bool awaitFirst)
    {
        var device = new FaultyDevice();
        await using (var store = await MessageStore.OpenAsync(Options(device)))
        {
            // The Async declare is written but not synced; when not awaited it may still be pending.
            var first = store.DeclareQueueAsync("q", FlushPolicy.Async);
            if (awaitFirst)
            {
                await first;
            }

            var queue = await store.DeclareQueueAsync("q", FlushPolicy.Sync);
            Assert.Same(queue, await first);
            device = device.Crash();
        }

        await using (var store = await MessageStore.OpenAsync(Options(device)))
        {
            Assert.NotNull(store.FindQueue("q"));
        }
    }

    [Fact]
    public async Task After_a_failed_fsync_lost_a_declare_declaring_the_queue_again_fails_too()
    {
        var device = new FaultyDevice();
        await using (var store = await MessageStore.OpenAsync(Options(device)))
        {
            device.FailNextFsync("log/");
            await Assert.ThrowsAsync<StorageFailedException>(() => store.DeclareQueueAsync("q", FlushPolicy.Sync));
            await Assert.ThrowsAsync<StorageFailedException>(() => store.DeclareQueueAsync("q", FlushPolicy.Sync));
            await Assert.ThrowsAsync<StorageFailedException>(() => store.DeclareQueueAsync("q", FlushPolicy.Async));
            device = device.Crash();
        }

        await using (var store = await MessageStore.OpenAsync(Options(device)))
        {
            Assert.Null(store.FindQueue("q"));
        }
    }

    private static StoreOptions Options(FaultyDevice device) => new() { Device = device, AutoCompact = false };
}
