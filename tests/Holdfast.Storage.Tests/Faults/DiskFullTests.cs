using Holdfast.Testing;

namespace Holdfast.Storage.Tests.Faults;

/// <summary>
/// A full disk is not a failure of the store: appends fail with <see cref="DiskFullException"/> while
/// it lasts, nothing confirmed is touched, and once space is freed the same store instance takes
/// appends again.
/// </summary>
public sealed class DiskFullTests
{
    private const int SegmentSize = 4096;

    // 200-byte bodies: the disk fills when a new segment's preallocation is refused.
    // 5000-byte bodies: every record outgrows its segment's preallocation and the write itself runs out of space part way.
    [Theory]
    [InlineData(200)]
    [InlineData(5000)]
    public async Task Appends_fail_with_DiskFullException_while_full_and_succeed_again_once_space_is_freed(int bodyLength)
    {
        var device = new FaultyDevice();
        var confirmed = new List<int>();
        var nextId = 0;
        await using (var store = await MessageStore.OpenAsync(Options(device)))
        {
            var queue = await store.DeclareQueueAsync("q");
            for (var i = 0; i < 5; i++)
            {
                await store.AppendAsync([queue], TestPayload.Make(nextId, bodyLength), policy: FlushPolicy.Sync);
                confirmed.Add(nextId++);
            }

            device.CapacityBytes = device.UsedBytes + (bodyLength > SegmentSize ? SegmentSize + 100 : 0);
            var bytesBefore = device.BytesWritten;
            DiskFullException? full = null;
            for (var i = 0; i < 100 && full is null; i++)
            {
                try
                {
                    await store.AppendAsync([queue], TestPayload.Make(nextId, bodyLength), policy: FlushPolicy.Sync);
                    confirmed.Add(nextId);
                }
                catch (DiskFullException ex)
                {
                    full = ex;
                }

                nextId++;
            }

            Assert.NotNull(full);
            Assert.True(device.DiskFullErrors > 0);
            if (bodyLength > SegmentSize)
            {
                // The refused record was partly written before the disk said no.
                Assert.True(device.BytesWritten > bytesBefore);
            }

            Assert.Null(store.Failure);
            Assert.False(store.GetStatistics().Failed);
            await Assert.ThrowsAsync<DiskFullException>(() => store.AppendAsync([queue], TestPayload.Make(nextId++, bodyLength), policy: FlushPolicy.Async).AsTask());
            Assert.Equal(confirmed, StoreContents.Ids(store, "q"));

            device.CapacityBytes = long.MaxValue;
            for (var i = 0; i < 5; i++)
            {
                await store.AppendAsync([queue], TestPayload.Make(nextId, bodyLength), policy: FlushPolicy.Sync);
                confirmed.Add(nextId++);
            }

            Assert.Equal(confirmed, StoreContents.Ids(store, "q"));

            // Whatever was left unsynced reaches the disk: the cut-back tail of the refused records must not come back.
            device = device.Crash((_, writes) => KeptWrites.All(writes));
        }

        await using (var store = await MessageStore.OpenAsync(Options(device)))
        {
            Assert.Equal(confirmed, StoreContents.Ids(store, "q"));
            Assert.Empty(store.Recovery.CorruptRecords);
        }
    }

    [Fact]
    public async Task Nothing_confirmed_is_lost_when_the_store_crashes_while_the_disk_is_full()
    {
        var device = new FaultyDevice();
        var confirmed = new List<int>();
        await using (var store = await MessageStore.OpenAsync(Options(device)))
        {
            var queue = await store.DeclareQueueAsync("q");
            device.CapacityBytes = device.UsedBytes + (3 * SegmentSize);
            for (var id = 0; id < 200; id++)
            {
                try
                {
                    await store.AppendAsync([queue], TestPayload.Make(id, 300), policy: FlushPolicy.Sync);
                    confirmed.Add(id);
                }
                catch (DiskFullException)
                {
                    // Expected once the three segments' worth is used; appends keep being refused.
                }
            }

            Assert.InRange(confirmed.Count, 10, 199);
            device = device.Crash();
        }

        // Recovery itself needs no new space; its checkpoint may be refused, which it tolerates.
        await using (var store = await MessageStore.OpenAsync(Options(device)))
        {
            Assert.Equal(confirmed, StoreContents.Ids(store, "q"));
        }
    }

    [Fact]
    public async Task A_checkpoint_refused_for_space_fails_alone_and_the_store_carries_on()
    {
        var device = new FaultyDevice();
        await using (var store = await MessageStore.OpenAsync(Options(device)))
        {
            var queue = await store.DeclareQueueAsync("q");
            for (var id = 0; id < 20; id++)
            {
                await store.AppendAsync([queue], TestPayload.Make(id), policy: FlushPolicy.Sync);
            }

            // The checkpoint must write 20 new index entries; appends still fit in the segment's preallocation.
            device.CapacityBytes = device.UsedBytes;
            await Assert.ThrowsAsync<DiskFullException>(store.CheckpointAsync);
            Assert.Null(store.Failure);
            await store.AppendAsync([queue], TestPayload.Make(20), policy: FlushPolicy.Sync);

            device.CapacityBytes = long.MaxValue;
            await store.CheckpointAsync();
            device = device.Crash();
        }

        await using (var store = await MessageStore.OpenAsync(Options(device)))
        {
            Assert.Equal(Enumerable.Range(0, 21), StoreContents.Ids(store, "q"));
            Assert.Equal(0, store.Recovery.RecordsRecovered);
        }
    }

    /// <summary>
    /// A checkpoint that failed must decide nothing: if it had marked segments for deletion, the next
    /// checkpoint would delete them while the older checkpoint on disk still needs them to replay.
    /// </summary>
    [Fact]
    public async Task After_a_checkpoint_refused_for_space_the_older_checkpoint_still_opens_the_store_correctly()
    {
        var device = new FaultyDevice();
        long olderGeneration;
        await using (var store = await MessageStore.OpenAsync(Options(device)))
        {
            var queue = await store.DeclareQueueAsync("q");
            for (var id = 0; id < 10; id++)
            {
                await store.AppendAsync([queue], TestPayload.Make(id, 200), policy: FlushPolicy.Sync);
            }

            await store.CheckpointAsync();
            olderGeneration = store.GetStatistics().Checkpoints;

            // Acks and filler after the checkpoint, filling several segments that then hold nothing live.
            while (store.TryReadNext(queue, out var message))
            {
                using (message)
                {
                    await store.AckAsync(queue, message!.Seq, FlushPolicy.Sync);
                }
            }

            for (var id = 10; id < 60; id++)
            {
                await store.AppendAsync([queue], TestPayload.Make(id, 200), policy: FlushPolicy.Sync);
                Assert.True(store.TryReadNext(queue, out var message));
                using (message)
                {
                    await store.AckAsync(queue, message!.Seq, FlushPolicy.Sync);
                }
            }

            await store.AppendAsync([queue], TestPayload.Make(60, 200), policy: FlushPolicy.Sync);
            device.CapacityBytes = device.UsedBytes;
            await Assert.ThrowsAsync<DiskFullException>(store.CheckpointAsync);
            device.CapacityBytes = long.MaxValue;
            await store.CheckpointAsync();
            device = device.Crash();
        }

        // Damage the newest checkpoint: the store must open from the older one and replay the acks.
        var newest = $"checkpoint.{(olderGeneration + 1) & 1}";
        device.FlipBit(newest, 20, 0);
        await using (var store = await MessageStore.OpenAsync(Options(device)))
        {
            Assert.Equal(olderGeneration, store.Recovery.CheckpointGeneration);
            Assert.Equal([60], StoreContents.Ids(store, "q"));
            Assert.Empty(store.Recovery.CorruptRecords);
        }
    }

    private static StoreOptions Options(FaultyDevice device) => new()
    {
        Device = device,
        SegmentSizeBytes = SegmentSize,
        AutoCompact = false,
    };
}
