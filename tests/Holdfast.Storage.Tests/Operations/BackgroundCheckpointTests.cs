using Holdfast.Storage.Tests.Faults;
using Holdfast.Testing;

namespace Holdfast.Storage.Tests.Operations;

/// <summary>
/// A checkpoint's snapshot is taken on the log writer between two batches; its index files and
/// checkpoint file are written and fsynced on a thread of their own while appends go on. What
/// changes meanwhile (new appends, acks, relocations by compaction) must reach the next checkpoint.
/// </summary>
public sealed class BackgroundCheckpointTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);

    [Theory]
    [InlineData("queues/")]
    [InlineData("checkpoint.")]
    public async Task Sync_appends_are_confirmed_while_a_checkpoint_file_fsync_is_held(string heldPrefix)
    {
        var device = new FaultyDevice();
        var store = await MessageStore.OpenAsync(Options(device));
        try
        {
            var queue = await store.DeclareQueueAsync("q");
            for (var id = 0; id < 10; id++)
            {
                await store.AppendAsync([queue], TestPayload.Make(id, 300), policy: FlushPolicy.Sync);
            }

            var stall = device.StallNextFsync(heldPrefix);
            Task checkpoint;
            try
            {
                checkpoint = store.CheckpointAsync();
                await stall.WaitUntilHeldAsync(Patience);

                // Before, the writer thread itself sat in this fsync and no append completed until it ended.
                for (var id = 10; id < 20; id++)
                {
                    await store.AppendAsync([queue], TestPayload.Make(id, 300), policy: FlushPolicy.Sync).AsTask().WaitAsync(Patience);
                }

                Assert.False(checkpoint.IsCompleted, "the checkpoint reported done while its fsync was held");
            }
            finally
            {
                stall.Release();
            }

            await checkpoint.WaitAsync(Patience);

            // Power loss now: the checkpoint stands at its snapshot, the later appends are replayed from the log.
            device = device.Crash();
            await store.DisposeAsync();
            store = await MessageStore.OpenAsync(Options(device));
            Assert.Equal(Enumerable.Range(0, 20), StoreContents.Ids(store, "q"));
            Assert.Empty(store.Recovery.CorruptRecords);
        }
        finally
        {
            await store.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_checkpoint_requested_while_another_is_written_does_not_hold_up_appends()
    {
        var device = new FaultyDevice();
        var store = await MessageStore.OpenAsync(Options(device));
        try
        {
            var queue = await store.DeclareQueueAsync("q");
            await store.AppendAsync([queue], TestPayload.Make(0, 300), policy: FlushPolicy.Sync);

            var stall = device.StallNextFsync("queues/");
            Task first;
            Task second;
            try
            {
                first = store.CheckpointAsync();
                await stall.WaitUntilHeldAsync(Patience);

                // Compaction asks for checkpoints like this while an automatic one may be running.
                second = store.CheckpointAsync();
                for (var id = 1; id < 11; id++)
                {
                    await store.AppendAsync([queue], TestPayload.Make(id, 300), policy: FlushPolicy.Sync).AsTask().WaitAsync(Patience);
                }

                Assert.False(first.IsCompleted, "the first checkpoint reported done while its fsync was held");
                Assert.False(second.IsCompleted, "the second checkpoint reported done before the first was written");
            }
            finally
            {
                stall.Release();
            }

            await first.WaitAsync(Patience);
            await second.WaitAsync(Patience);

            // The second snapshot came after the appends: every entry is in the index files, none rebuilt from the log.
            device = device.Crash();
            await store.DisposeAsync();
            store = await MessageStore.OpenAsync(Options(device));
            Assert.Equal(Enumerable.Range(0, 11), StoreContents.Ids(store, "q"));
            Assert.Equal(0, store.Recovery.IndexEntriesRebuilt);
            Assert.Equal(0, store.Recovery.MessagesLost);
        }
        finally
        {
            await store.DisposeAsync();
        }
    }

    [Fact]
    public async Task Open_after_a_replay_returns_before_its_checkpoint_is_written_and_a_crash_meanwhile_loses_nothing()
    {
        var device = new FaultyDevice();
        var store = await MessageStore.OpenAsync(Options(device));
        try
        {
            var queue = await store.DeclareQueueAsync("q");
            for (var id = 0; id < 10; id++)
            {
                await store.AppendAsync([queue], TestPayload.Make(id, 300), policy: FlushPolicy.Sync);
            }

            // No checkpoint yet: the next open replays these records and then checkpoints them.
            device = device.Crash();
            await store.DisposeAsync();

            var stall = device.StallNextFsync("queues/");
            try
            {
                store = await MessageStore.OpenAsync(Options(device)).WaitAsync(Patience);
                Assert.Equal(10, store.Recovery.IndexEntriesRebuilt);
                await stall.WaitUntilHeldAsync(Patience);
                queue = store.FindQueue("q")!;
                for (var id = 10; id < 15; id++)
                {
                    await store.AppendAsync([queue], TestPayload.Make(id, 300), policy: FlushPolicy.Sync).AsTask().WaitAsync(Patience);
                }

                // Power loss while the post-replay checkpoint is still being written.
                device = device.Crash();
            }
            finally
            {
                stall.Release();
            }

            await store.DisposeAsync();
            store = await MessageStore.OpenAsync(Options(device));
            Assert.Equal(Enumerable.Range(0, 15), StoreContents.Ids(store, "q"));
            Assert.Equal(0, store.Recovery.MessagesLost);
        }
        finally
        {
            await store.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_relocation_applied_while_a_checkpoint_is_written_reaches_the_index_before_its_old_segment_goes()
    {
        var device = new FaultyDevice();
        var store = await MessageStore.OpenAsync(Options(device));
        try
        {
            // Forty messages over several small segments, none checkpointed yet; every fourth stays
            // live, so each closed segment is mostly dead and compaction will move its survivors.
            var queue = await store.DeclareQueueAsync("q");
            var seqs = new long[1];
            var kept = new List<int>();
            for (var id = 0; id < 40; id++)
            {
                await store.AppendAsync([queue], TestPayload.Make(id, 300), seqs, FlushPolicy.Sync);
                if (id % 4 == 0)
                {
                    kept.Add(id);
                }
                else
                {
                    await store.AckAsync(queue, seqs[0], FlushPolicy.Sync);
                }
            }

            // The checkpoint snapshots these entries at their old positions and is held writing them;
            // compaction moves the survivors meanwhile.
            var stall = device.StallNextFsync("queues/");
            Task checkpoint;
            Task<long> compaction;
            try
            {
                checkpoint = store.CheckpointAsync();
                await stall.WaitUntilHeldAsync(Patience);
                compaction = store.CompactAsync();
                await WaitForRelocationsAsync(store);
            }
            finally
            {
                stall.Release();
            }

            await checkpoint.WaitAsync(Patience);
            Assert.True(await compaction.WaitAsync(Patience) > 0);

            // Compaction's own two checkpoints have deleted the old segments: the index must point at the copies.
            Assert.True(store.GetStatistics().SegmentsDeleted > 0, $"{store.GetStatistics()}");
            device = device.Crash();
            await store.DisposeAsync();
            store = await MessageStore.OpenAsync(Options(device));
            Assert.Equal(kept, StoreContents.Ids(store, "q"));
            Assert.Equal(0, store.Recovery.MessagesLost);
        }
        finally
        {
            await store.DisposeAsync();
        }
    }

    private static async Task WaitForRelocationsAsync(MessageStore store)
    {
        var deadline = DateTime.UtcNow + Patience;
        while (store.GetStatistics().RecordsRelocated == 0)
        {
            Assert.True(DateTime.UtcNow < deadline, "compaction relocated nothing while the checkpoint was held");
            await Task.Delay(5);
        }
    }

    private static StoreOptions Options(FaultyDevice device) => new()
    {
        Device = device,
        SegmentSizeBytes = 4096,
        CheckpointEveryBytes = long.MaxValue,
        AutoCompact = false,
        CompactBelowLiveFraction = 0.5,
    };
}
