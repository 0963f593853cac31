using Holdfast.Storage.Log;
using Holdfast.Storage.Queues;
using Holdfast.Testing;

namespace Holdfast.Storage.Tests.Faults;

/// <summary>
/// A bit that flips on the media must be caught by a checksum wherever it lands: a damaged record is
/// reported and never returned, and what surrounds it stays readable; damaged index entries and
/// checkpoints are rebuilt from, or replaced by, what else is on disk.
/// </summary>
public sealed class BitFlipTests
{
    private const int BodyLength = 64;

    [Fact]
    public async Task A_flipped_bit_in_a_record_after_the_checkpoint_is_reported_by_recovery_and_the_records_after_it_survive()
    {
        var device = new FaultyDevice();
        await using (var store = await MessageStore.OpenAsync(Options(device)))
        {
            var queue = await store.DeclareQueueAsync("q");
            await AppendAsync(store, queue, 0, 10);
            await store.CheckpointAsync();
            await AppendAsync(store, queue, 10, 10);
            device = device.Crash();
        }

        var (path, offset, size) = LogLayout.MessageRecord(device, 15);
        device.FlipBit(path, offset + RecordFormat.HeaderSize + 40, 2);

        var corruption = new List<CorruptionReport>();
        await using (var store = await MessageStore.OpenAsync(Options(device) with { OnCorruption = corruption.Add }))
        {
            var report = Assert.Single(store.Recovery.CorruptRecords);
            Assert.Equal(offset, report.Position);
            Assert.Equal(size, report.Length);
            Assert.Equal(0, store.Recovery.BytesTruncated);
            Assert.Equal(Enumerable.Range(0, 20).Where(id => id != 15), ReadAll(store, "q"));
            Assert.Empty(corruption);
        }
    }

    [Fact]
    public async Task A_flipped_bit_in_a_record_before_the_checkpoint_is_reported_when_read_and_the_queue_reads_on_past_it()
    {
        var device = new FaultyDevice();
        await using (var store = await MessageStore.OpenAsync(Options(device)))
        {
            var queue = await store.DeclareQueueAsync("q");
            await AppendAsync(store, queue, 0, 10);
        }

        // Closing checkpointed: recovery will not scan the record, only reading it can find the damage.
        var (path, offset, size) = LogLayout.MessageRecord(device, 4);
        device.FlipBit(path, offset + RecordFormat.HeaderSize + 20, 7);

        var corruption = new List<CorruptionReport>();
        await using (var store = await MessageStore.OpenAsync(Options(device) with { OnCorruption = corruption.Add }))
        {
            Assert.Equal(0, store.Recovery.RecordsRecovered);
            Assert.Empty(store.Recovery.CorruptRecords);
            Assert.Equal(Enumerable.Range(0, 10).Where(id => id != 4), ReadAll(store, "q"));
            var report = Assert.Single(corruption);
            Assert.Equal(Segment.PathFor(0), path);
            Assert.Equal(offset, report.Position);
            Assert.Equal(size, report.Length);
            Assert.Equal(1, store.GetStatistics().CorruptRecordsSkipped);
            Assert.Equal(9, store.FindQueue("q")!.MessageCount);
        }
    }

    [Fact]
    public async Task A_corruption_callback_that_throws_does_not_fail_the_read_that_found_the_damage()
    {
        var device = new FaultyDevice();
        await using (var store = await MessageStore.OpenAsync(Options(device)))
        {
            var queue = await store.DeclareQueueAsync("q");
            await AppendAsync(store, queue, 0, 10);
        }

        var (path, offset, _) = LogLayout.MessageRecord(device, 4);
        device.FlipBit(path, offset + RecordFormat.HeaderSize + 20, 7);

        var calls = 0;
        await using (var store = await MessageStore.OpenAsync(Options(device) with { OnCorruption = _ => { calls++; throw new InvalidOperationException("the caller's own bug"); } }))
        {
            Assert.Equal(Enumerable.Range(0, 10).Where(id => id != 4), ReadAll(store, "q"));
            Assert.Equal(1, calls);
            Assert.Equal(1, store.GetStatistics().CorruptRecordsSkipped);
        }
    }

    [Fact]
    public async Task A_flipped_bit_in_a_queue_index_entry_is_rebuilt_from_the_log_and_the_repair_is_persisted()
    {
        var device = new FaultyDevice();
        uint queueId;
        await using (var store = await MessageStore.OpenAsync(Options(device)))
        {
            var queue = await store.DeclareQueueAsync("q");
            queueId = queue.Id;
            await AppendAsync(store, queue, 0, 10);
        }

        device.FlipBit(QueueIndexFiles.PathFor(queueId, 0), (3 * IndexEntryFormat.Size) + 1, 0);

        await using (var store = await MessageStore.OpenAsync(Options(device)))
        {
            Assert.Equal(1, store.Recovery.IndexEntriesRebuilt);
            Assert.Equal(0, store.Recovery.MessagesLost);
            Assert.Empty(store.Recovery.CorruptRecords);
            Assert.Equal(Enumerable.Range(0, 10), ReadAll(store, "q"));
        }

        await using (var store = await MessageStore.OpenAsync(Options(device)))
        {
            Assert.Equal(0, store.Recovery.IndexEntriesRebuilt);
            Assert.Equal(Enumerable.Range(0, 10), ReadAll(store, "q"));
        }
    }

    [Fact]
    public async Task A_message_whose_index_entry_and_record_are_both_damaged_is_reported_lost_and_never_returned()
    {
        var device = new FaultyDevice();
        uint queueId;
        await using (var store = await MessageStore.OpenAsync(Options(device)))
        {
            var queue = await store.DeclareQueueAsync("q");
            queueId = queue.Id;
            await AppendAsync(store, queue, 0, 10);
        }

        device.FlipBit(QueueIndexFiles.PathFor(queueId, 0), 6 * IndexEntryFormat.Size, 4);
        var (path, offset, _) = LogLayout.MessageRecord(device, 6);
        device.FlipBit(path, offset + RecordFormat.HeaderSize + 30, 1);

        await using (var store = await MessageStore.OpenAsync(Options(device)))
        {
            Assert.Equal(1, store.Recovery.MessagesLost);
            Assert.Contains(store.Recovery.CorruptRecords, c => c.Reason.Contains("message 6", StringComparison.Ordinal));
            Assert.Equal(Enumerable.Range(0, 10).Where(id => id != 6), ReadAll(store, "q"));
        }
    }

    [Fact]
    public async Task A_flipped_bit_in_the_newest_checkpoint_falls_back_to_the_other_slot_and_replays_from_there()
    {
        var device = new FaultyDevice();
        long newest;
        await using (var store = await MessageStore.OpenAsync(Options(device)))
        {
            var queue = await store.DeclareQueueAsync("q");
            await AppendAsync(store, queue, 0, 10);
            await store.CheckpointAsync();
            await AckAsync(store, queue, 5);
            await AppendAsync(store, queue, 10, 5);
            await store.CheckpointAsync();
            newest = store.GetStatistics().Checkpoints;
            await AckAsync(store, queue, 1);
            await AppendAsync(store, queue, 15, 1);
            device = device.Crash();
        }

        var slot = $"checkpoint.{newest & 1}";
        device.FlipBit(slot, device.ReadAllBytes(slot).Length / 2, 5);

        await using (var store = await MessageStore.OpenAsync(Options(device)))
        {
            Assert.Equal(newest - 1, store.Recovery.CheckpointGeneration);
            Assert.Contains(store.Recovery.Warnings, w => w.Contains(slot, StringComparison.Ordinal));
            Assert.Empty(store.Recovery.CorruptRecords);
            Assert.Equal(Enumerable.Range(6, 10), ReadAll(store, "q"));
        }

        // Opening checkpointed into the damaged slot's turn: the next start uses it and finds the same.
        await using (var store = await MessageStore.OpenAsync(Options(device)))
        {
            Assert.Empty(store.Recovery.Warnings);
            Assert.Equal(Enumerable.Range(6, 10), ReadAll(store, "q"));
        }
    }

    private static StoreOptions Options(FaultyDevice device) => new()
    {
        Device = device,
        SegmentSizeBytes = 64 * 1024,
        AutoCompact = false,
    };

    private static async Task AppendAsync(MessageStore store, StoredQueue queue, int firstId, int count)
    {
        for (var id = firstId; id < firstId + count; id++)
        {
            await store.AppendAsync([queue], TestPayload.Make(id, BodyLength), policy: FlushPolicy.Sync);
        }
    }

    /// <summary>Delivers the oldest <paramref name="count"/> ready messages and acks them.</summary>
    private static async Task AckAsync(MessageStore store, StoredQueue queue, int count)
    {
        for (var i = 0; i < count; i++)
        {
            Assert.True(store.TryReadNext(queue, out var message));
            using (message)
            {
                await store.AckAsync(queue, message!.Seq, FlushPolicy.Sync);
            }
        }
    }

    /// <summary>Delivers every ready message, checking each body whole, and returns their ids in order.</summary>
    private static List<int> ReadAll(MessageStore store, string queueName)
    {
        var queue = store.FindQueue(queueName)!;
        var ids = new List<int>();
        while (store.TryReadNext(queue, out var message))
        {
            using (message)
            {
                ids.Add(TestPayload.Id(message!.Payload.Span));
            }
        }

        return ids;
    }
}
