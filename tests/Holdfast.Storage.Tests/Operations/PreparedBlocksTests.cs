using Holdfast.Storage.Log;
using Holdfast.Storage.Tests.Faults;
using Holdfast.Testing;

namespace Holdfast.Storage.Tests.Operations;

/// <summary>
/// Before fsyncing a small batch itself, the writer zeroes the blocks just ahead of a new segment's
/// data, so its fsyncs persist data into written blocks instead of also committing the file system's
/// journal. The zeros must read as the end of the log: never as records, never as a torn tail.
/// </summary>
public sealed class PreparedBlocksTests
{
    private const int Chunk = 64 * 1024;
    private static readonly string FirstSegment = Segment.PathFor(0);

    [Fact]
    public async Task Sync_appends_go_into_blocks_zeroed_ahead_of_them()
    {
        var device = new FaultyDevice();
        await using var store = await MessageStore.OpenAsync(Options(device));
        var queue = await store.DeclareQueueAsync("q");
        for (var id = 0; id < 10; id++)
        {
            await store.AppendAsync([queue], TestPayload.Make(id, 300), policy: FlushPolicy.Sync);
        }

        var dataEnd = store.GetStatistics().SyncedEnd;
        var file = device.ReadAllBytes(FirstSegment);
        Assert.True(file.Length >= dataEnd + (Chunk / 2), $"the segment holds {file.Length} bytes for {dataEnd} of data: nothing was prepared ahead");
        Assert.DoesNotContain(file.AsSpan((int)dataEnd).ToArray(), b => b != 0);

        // Synced with the records: the zeros are durable too, so the next fsyncs find written blocks.
        Assert.Empty(device.UnsyncedWrites(FirstSegment));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Zeros_prepared_past_the_data_end_the_log_at_recovery_and_are_not_a_torn_tail(bool keepUnsynced)
    {
        var device = new FaultyDevice();
        await using (var store = await MessageStore.OpenAsync(Options(device)))
        {
            var queue = await store.DeclareQueueAsync("q");
            for (var id = 0; id < 10; id++)
            {
                await store.AppendAsync([queue], TestPayload.Make(id, 300), policy: FlushPolicy.Sync);
            }

            device = device.Crash((_, writes) => keepUnsynced ? KeptWrites.All(writes) : KeptWrites.None);
        }

        await using (var store = await MessageStore.OpenAsync(Options(device)))
        {
            Assert.Equal(Enumerable.Range(0, 10), StoreContents.Ids(store, "q"));
            Assert.Equal(0, store.Recovery.BytesTruncated);
            Assert.Empty(store.Recovery.CorruptRecords);

            // The zeros stay where they are, and so does the space reserved past them.
            var file = device.ReadAllBytes(FirstSegment);
            Assert.True(file.Length > store.Recovery.LogEnd, "the prepared zeros were cut off");
            Assert.DoesNotContain(file.AsSpan((int)store.Recovery.LogEnd).ToArray(), b => b != 0);

            // Appends continue at the data's end, and preparing starts again from there.
            await store.AppendAsync([store.FindQueue("q")!], TestPayload.Make(10, 300), policy: FlushPolicy.Sync);
            Assert.Equal(Enumerable.Range(0, 11), StoreContents.Ids(store, "q"));
        }
    }

    [Fact]
    public async Task A_record_torn_inside_prepared_zeros_is_cut_and_counted_at_most_whole()
    {
        var device = new FaultyDevice();
        int recordSize;
        await using (var store = await MessageStore.OpenAsync(Options(device)))
        {
            var queue = await store.DeclareQueueAsync("q");
            for (var id = 0; id < 5; id++)
            {
                await store.AppendAsync([queue], TestPayload.Make(id, 300), policy: FlushPolicy.Sync);
            }

            await store.AppendAsync([queue], TestPayload.Make(5, 300), policy: FlushPolicy.Async);
            var write = Assert.Single(device.UnsyncedWrites(FirstSegment));
            recordSize = (int)write.Length;
            device = device.Crash((path, _) => path == FirstSegment ? new KeptWrites(1, recordSize / 2) : KeptWrites.None);
        }

        await using (var store = await MessageStore.OpenAsync(Options(device)))
        {
            Assert.Equal(Enumerable.Range(0, 5), StoreContents.Ids(store, "q"));
            Assert.InRange(store.Recovery.BytesTruncated, recordSize / 2, recordSize);
            Assert.Empty(store.Recovery.CorruptRecords);
        }
    }

    private static StoreOptions Options(FaultyDevice device) => new()
    {
        Device = device,
        SegmentSizeBytes = 1 << 20,
        PrepareAheadBytes = Chunk,
        AutoCompact = false,
        CheckpointEveryBytes = long.MaxValue,
    };
}
