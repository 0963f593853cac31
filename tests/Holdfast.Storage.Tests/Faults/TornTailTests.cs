using Holdfast.Storage.Log;
using Holdfast.Testing;

namespace Holdfast.Storage.Tests.Faults;

/// <summary>
/// A crash in the middle of writing the log's tail leaves any prefix of the write on disk. Recovery
/// must keep every record synced before it, drop the torn record whole, and append cleanly after.
/// </summary>
public sealed class TornTailTests
{
    private const int Confirmed = 5;
    private static readonly string FirstSegment = Segment.PathFor(0);

    // 21-byte body: the record's CRC-covered bytes end 1 byte before its 8-byte padding does, so
    // the offsets include "everything but the padding".
    [Theory]
    [InlineData(21)]
    [InlineData(60)]
    public async Task The_last_record_torn_at_every_byte_is_dropped_and_the_log_continues(int bodyLength)
    {
        int? recordSize = null;
        for (var tornAt = 0; recordSize is null || tornAt <= recordSize; tornAt++)
        {
            var device = new FaultyDevice();
            await using (var store = await MessageStore.OpenAsync(Options(device)))
            {
                var queue = await store.DeclareQueueAsync("q");
                for (var id = 0; id < Confirmed; id++)
                {
                    await store.AppendAsync([queue], TestPayload.Make(id, bodyLength), policy: FlushPolicy.Sync);
                }

                Assert.Empty(device.UnsyncedWrites(FirstSegment));
                await store.AppendAsync([queue], TestPayload.Make(Confirmed, bodyLength), policy: FlushPolicy.Async);
                var write = Assert.Single(device.UnsyncedWrites(FirstSegment));
                recordSize ??= write.Length;
                Assert.Equal(recordSize, write.Length);
                device = device.Crash((path, writes) => path == FirstSegment ? new KeptWrites(1, tornAt) : KeptWrites.None);
            }

            var whole = tornAt == recordSize;
            var context = $"torn at byte {tornAt} of {recordSize}";
            await using (var store = await MessageStore.OpenAsync(Options(device)))
            {
                var expected = Enumerable.Range(0, whole ? Confirmed + 1 : Confirmed).ToList();
                Assert.True(expected.SequenceEqual(StoreContents.Ids(store, "q")), context);
                Assert.True(store.Recovery.BytesTruncated == (whole ? 0 : tornAt), $"{context}: {store.Recovery}");
                Assert.True(store.Recovery.CorruptRecords.Count == 0, $"{context}: {store.Recovery}");

                var queue = store.FindQueue("q")!;
                await store.AppendAsync([queue], TestPayload.Make(100, bodyLength), policy: FlushPolicy.Sync);
                await store.AppendAsync([queue], TestPayload.Make(101, bodyLength), policy: FlushPolicy.Sync);
                expected.AddRange([100, 101]);
                Assert.True(expected.SequenceEqual(StoreContents.Ids(store, "q")), context);
                device = device.Crash();
            }

            // What was appended after the repair must itself survive the next recovery.
            await using (var store = await MessageStore.OpenAsync(Options(device)))
            {
                var expected = Enumerable.Range(0, whole ? Confirmed + 1 : Confirmed).Concat([100, 101]);
                Assert.True(expected.SequenceEqual(StoreContents.Ids(store, "q")), $"{context}, after a second recovery: {store.Recovery}");
                Assert.True(store.Recovery.CorruptRecords.Count == 0, $"{context}, after a second recovery: {store.Recovery}");
            }
        }
    }

    [Fact]
    public async Task A_batch_torn_at_every_byte_keeps_exactly_the_whole_records_before_the_tear()
    {
        const int Batch = 4;
        long? batchBytes = null;
        for (long tornAt = 0; batchBytes is null || tornAt <= batchBytes; tornAt++)
        {
            var device = new FaultyDevice();
            int recordSize;
            await using (var store = await MessageStore.OpenAsync(Options(device)))
            {
                var queue = await store.DeclareQueueAsync("q");
                await store.AppendAsync([queue], TestPayload.Make(0, 40), policy: FlushPolicy.Sync);
                var appends = new List<Task>();
                for (var id = 1; id <= Batch; id++)
                {
                    appends.Add(store.AppendAsync([queue], TestPayload.Make(id, 40), policy: FlushPolicy.Async).AsTask());
                }

                await Task.WhenAll(appends);

                // Group commit decides how the records are split into writes; the tear is placed by bytes.
                var writes = device.UnsyncedWrites(FirstSegment);
                batchBytes ??= writes.Sum(w => (long)w.Length);
                Assert.Equal(batchBytes, writes.Sum(w => (long)w.Length));
                recordSize = (int)(batchBytes.Value / Batch);
                var keep = tornAt;
                device = device.Crash((path, w) => path == FirstSegment ? KeptWrites.FirstBytes(w, keep) : KeptWrites.None);
            }

            await using (var store = await MessageStore.OpenAsync(Options(device)))
            {
                var survivors = (int)(tornAt / recordSize);
                var context = $"batch of {batchBytes} bytes torn at byte {tornAt}: {store.Recovery}";
                Assert.True(Enumerable.Range(0, 1 + survivors).SequenceEqual(StoreContents.Ids(store, "q")), context);
                Assert.True(store.Recovery.BytesTruncated == tornAt % recordSize, context);
            }
        }
    }

    private static StoreOptions Options(FaultyDevice device) => new()
    {
        // With no zeros prepared ahead the file ends where the tear does, so the torn bytes counted are exact.
        PrepareAheadBytes = 0,
        Device = device,
        SegmentSizeBytes = 64 * 1024,
        AutoCompact = false,
    };
}
