using Holdfast.Testing;

namespace Holdfast.Storage.Tests.Faults;

/// <summary>A name is durable only once its directory is fsynced; the store must sync every directory it changes.</summary>
public sealed class DirectoryDurabilityTests
{
    [Fact]
    public async Task A_crash_right_after_the_first_confirmed_append_of_a_new_store_keeps_it()
    {
        var device = new FaultyDevice();
        await using (var store = await MessageStore.OpenAsync(new StoreOptions { Device = device, AutoCompact = false }))
        {
            var queue = await store.DeclareQueueAsync("q");
            await store.AppendAsync([queue], TestPayload.Make(1), policy: FlushPolicy.Sync);
            device = device.Crash();
        }

        await using (var store = await MessageStore.OpenAsync(new StoreOptions { Device = device, AutoCompact = false }))
        {
            Assert.Equal([1], StoreContents.Ids(store, "q"));
        }
    }

    [Fact]
    public async Task Files_and_directories_created_and_deleted_by_checkpoints_and_reclamation_stay_consistent_across_a_crash()
    {
        var device = new FaultyDevice();
        var options = new StoreOptions { Device = device, SegmentSizeBytes = 4096, AutoCompact = false };
        await using (var store = await MessageStore.OpenAsync(options))
        {
            var doomed = await store.DeclareQueueAsync("doomed");
            var kept = await store.DeclareQueueAsync("kept");
            for (var id = 0; id < 200; id++)
            {
                await store.AppendAsync([id % 2 == 0 ? doomed : kept], TestPayload.Make(id, 100), policy: FlushPolicy.Async);
            }

            await store.CheckpointAsync();
            await store.DeleteQueueAsync(doomed);
            while (store.TryReadNext(kept, out var message))
            {
                using (message)
                {
                    if (TestPayload.Id(message!.Payload.Span) < 150)
                    {
                        await store.AckAsync(kept, message.Seq, FlushPolicy.Async);
                    }
                }
            }

            await store.CheckpointAsync();
            await store.CheckpointAsync();
            Assert.True(store.GetStatistics().SegmentsDeleted > 0);
            device = device.Crash();
        }

        await using (var store = await MessageStore.OpenAsync(options with { Device = device }))
        {
            Assert.Null(store.FindQueue("doomed"));
            Assert.Equal(Enumerable.Range(150, 50).Where(id => id % 2 == 1), StoreContents.Ids(store, "kept"));
            Assert.Empty(store.Recovery.CorruptRecords);
            Assert.Equal(0, store.Recovery.MessagesLost);
        }
    }
}
