using Holdfast.Storage.Log;
using Holdfast.Storage.Tests.Faults;
using Holdfast.Testing;

namespace Holdfast.Storage.Tests.Operations;

/// <summary>
/// Compaction reads back the records live entries point at, not the whole mostly-dead segment; a live record
/// that fails its check there stays where it is, and the rest are relocated.
/// </summary>
public sealed class CompactionReadTests
{
    private const int SegmentSizeBytes = 256 * 1024;
    private const int Messages = 400; // ~1 KiB records: the first segment full, the second one written into
    private const int KeepOneIn = 40; // one live record every ~40 KiB, the rest acked

    [Fact]
    public async Task Compaction_reads_the_live_records_of_a_segment_not_the_dead_ones()
    {
        var device = new FaultyDevice();
        await using var store = await MessageStore.OpenAsync(Options(device));
        var queue = await store.DeclareQueueAsync("q");
        var kept = await AppendAndAckAllButSomeAsync(store, queue);
        var inFirstSegment = kept.Count(id => LogLayout.MessageRecord(device, id).Path == FirstSegment);

        var before = device.BytesRead;
        var relocated = await store.CompactAsync();
        var read = device.BytesRead - before;

        // Every kept message of the first segment (closed, nearly all dead) was copied forward, each read back on
        // its own; a scan of that segment alone reads ~250 KiB.
        Assert.InRange(inFirstSegment, 5, kept.Count - 1);
        Assert.Equal(inFirstSegment, relocated);
        Assert.True(read < SegmentSizeBytes / 4, $"compaction read {read} bytes to relocate {relocated} records");
        Assert.Equal(kept, StoreContents.Ids(store, "q"));
    }

    [Fact]
    public async Task A_damaged_live_record_stays_where_it_is_and_the_others_are_relocated()
    {
        var device = new FaultyDevice();
        await using var store = await MessageStore.OpenAsync(Options(device));
        var queue = await store.DeclareQueueAsync("q");
        var kept = await AppendAndAckAllButSomeAsync(store, queue);
        var inFirstSegment = kept.Where(id => LogLayout.MessageRecord(device, id).Path == FirstSegment).ToList();
        var damaged = inFirstSegment[1];
        var (path, offset, size) = LogLayout.MessageRecord(device, damaged);
        device.FlipBit(path, offset + (size / 2), 3);

        var relocated = await store.CompactAsync();

        Assert.Equal(inFirstSegment.Count - 1, relocated);

        // The damaged message is never returned; every other one is.
        foreach (var id in kept)
        {
            var found = store.TryRead(queue, Seq(id), out var message);
            using (message)
            {
                Assert.Equal(id != damaged, found);
                Assert.True(id == damaged || TestPayload.Id(message!.Payload.Span) == id, $"message {id} read back as another");
            }
        }
    }

    private static readonly string FirstSegment = Segment.PathFor(0);

    private static long Seq(int id) => id; // a new queue numbers its messages from 0

    private static async Task<List<int>> AppendAndAckAllButSomeAsync(MessageStore store, StoredQueue queue)
    {
        var seqs = new long[Messages];
        for (var id = 0; id < Messages; id++)
        {
            await store.AppendAsync([queue], TestPayload.Make(id, 1000), seqs.AsSpan(id, 1), FlushPolicy.Sync);
            Assert.Equal(Seq(id), seqs[id]);
        }

        var kept = new List<int>();
        for (var id = 0; id < Messages; id++)
        {
            if (id % KeepOneIn == 0)
            {
                kept.Add(id);
            }
            else
            {
                await store.AckAsync(queue, seqs[id], FlushPolicy.Sync);
            }
        }

        await store.CheckpointAsync();
        return kept;
    }

    private static StoreOptions Options(FaultyDevice device) => new()
    {
        Device = device,
        SegmentSizeBytes = SegmentSizeBytes,
        AutoCompact = false,
        CheckpointEveryBytes = long.MaxValue,
    };
}
