using Holdfast.Testing;

namespace Holdfast.Storage.Tests.Faults;

/// <summary>
/// <see cref="MessageStore.CheckpointAsync"/> is a barrier: when it completes, every record appended
/// before it was called is on disk. A checkpoint the writer was already taking for an earlier batch
/// must not answer for it.
/// </summary>
public sealed class CheckpointBarrierTests
{
    [Fact]
    public async Task A_checkpoint_requested_during_an_earlier_batchs_fsync_waits_for_the_records_appended_before_it()
    {
        var device = new FaultyDevice();

        // Every batch is followed by an automatic checkpoint.
        var options = new StoreOptions { Device = device, AutoCompact = false, CheckpointEveryBytes = 1 };
        await using (var store = await MessageStore.OpenAsync(options))
        {
            var queue = await store.DeclareQueueAsync("q");
            var first = device.StallNextFsync("log/");
            var a = store.AppendAsync([queue], TestPayload.Make(1), policy: FlushPolicy.Sync).AsTask();
            await first.WaitUntilHeldAsync();

            // The writer is inside the fsync of A's batch: B waits for the next batch, and so must the checkpoint.
            var second = device.StallNextFsync("log/");
            var b = store.AppendAsync([queue], TestPayload.Make(2), policy: FlushPolicy.Async).AsTask();
            var checkpoint = store.CheckpointAsync();
            first.Release();
            await a;
            await second.WaitUntilHeldAsync();
            var completedEarly = checkpoint.IsCompleted;
            second.Release(); // Before asserting: a held writer would keep the store from closing.
            Assert.False(completedEarly, "The checkpoint completed before the fsync of B, which was appended before it was requested.");

            await b;
            await checkpoint;
            device = device.Crash();
        }

        await using (var store = await MessageStore.OpenAsync(options with { Device = device }))
        {
            Assert.Equal([1, 2], StoreContents.Ids(store, "q"));
        }
    }
}
