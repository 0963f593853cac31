using System.Buffers.Binary;
using Holdfast.Testing;
using Xunit.Abstractions;

namespace Holdfast.Storage.Tests.Operations;

/// <summary>
/// A slow consumer holds some messages unacked, about one in every segment's worth, while thousands
/// pass through the queue. Without compaction each of those messages keeps its whole segment on
/// disk; with it, disk use stays bounded by the live data and the held messages stay readable.
/// </summary>
public sealed class CompactionTests(ITestOutputHelper output) : IDisposable
{
    private const int SegmentSizeBytes = 64 * 1024;
    private const int Rounds = 10;
    private const int PerRound = 500;
    private const int BodyBytes = 1000;

    // One held message per 64 (≈ one per 64 KiB segment): 5 + 10 × 8 = 85 held, ≈ 85 KiB live.
    private const int HoldOneIn = 64;

    // 5000 messages ≈ 80 segments flow through. After compaction: the live data (two segments), the
    // segment being written, and what the next checkpoint has yet to delete.
    private const int MaxSegmentsAfterCompaction = 6;

    private readonly TempDirectory _dir = new();
    private readonly Dictionary<long, int> _held = [];
    private int _appended;

    public void Dispose() => _dir.Dispose();

    private StoreOptions Options(bool autoCompact) => new()
    {
        Directory = Path.Combine(_dir.Path, "store"),
        SegmentSizeBytes = SegmentSizeBytes,
        CheckpointEveryBytes = 4 * SegmentSizeBytes,
        AutoCompact = autoCompact,
        DefaultFlushPolicy = FlushPolicy.Async,
    };

    [Theory]
    [InlineData(ReopenMode.AfterClose)]
    [InlineData(ReopenMode.FromCrashImage)]
    public async Task Explicit_compaction_keeps_disk_bounded_under_a_slow_consumer(ReopenMode mode)
    {
        var store = await MessageStore.OpenAsync(Options(autoCompact: false));
        try
        {
            var queue = await store.DeclareQueueAsync("slow");
            await PassThroughAsync(store, queue, count: 5, holdOneIn: 1);
            long relocated = 0;
            for (var round = 0; round < Rounds; round++)
            {
                await PassThroughAsync(store, queue, PerRound, HoldOneIn);
                relocated += await store.CompactAsync();
                var statistics = store.GetStatistics();
                output.WriteLine($"round {round}: {statistics.Segments} segments, {statistics.SegmentBytes} bytes, {relocated} records relocated");
                Assert.InRange(statistics.Segments, 1, MaxSegmentsAfterCompaction);
                Assert.InRange(statistics.SegmentBytes, 1, MaxSegmentsAfterCompaction * SegmentSizeBytes);
            }

            Assert.True(relocated >= _held.Count, $"{relocated} records relocated for {_held.Count} held messages");
            Assert.Equal(relocated, store.GetStatistics().RecordsRelocated);
            AssertHeldMessagesReadable(store, queue);

            // Emptied segments are deleted in the background: a crash image taken before that holds them (dead,
            // below the checkpoint, gone at a later one), which is sound but not what this bound is about.
            Assert.True(store.WaitForSegmentDeletions(TimeSpan.FromSeconds(30)));
            store = await Reopen.Async(store, mode);
            Assert.Empty(store.Recovery.CorruptRecords);
            Assert.InRange(store.GetStatistics().Segments, 1, MaxSegmentsAfterCompaction);
            AssertHeldMessagesReadable(store, store.FindQueue("slow")!);
        }
        finally
        {
            await store.DisposeAsync();
        }
    }

    [Fact]
    public async Task Automatic_compaction_keeps_disk_bounded_under_a_slow_consumer()
    {
        var store = await MessageStore.OpenAsync(Options(autoCompact: true));
        try
        {
            var queue = await store.DeclareQueueAsync("slow");
            await PassThroughAsync(store, queue, count: 5, holdOneIn: 1);
            for (var round = 0; round < Rounds; round++)
            {
                await PassThroughAsync(store, queue, PerRound, HoldOneIn);
            }

            // Compaction runs in the background after a checkpoint, and the checkpoints after it delete
            // what it emptied: keep checkpointing until it has caught up.
            for (var attempt = 0; store.GetStatistics().Segments > MaxSegmentsAfterCompaction; attempt++)
            {
                Assert.True(attempt < 500, $"still {store.GetStatistics().Segments} segments");
                await store.CheckpointAsync();
                await Task.Delay(10);
            }

            var statistics = store.GetStatistics();
            output.WriteLine($"{statistics.Segments} segments, {statistics.SegmentBytes} bytes, {statistics.RecordsRelocated} relocated, {statistics.SegmentsDeleted} deleted");
            Assert.True(statistics.RecordsRelocated >= _held.Count);
            AssertHeldMessagesReadable(store, queue);

            store = await Reopen.Async(store, ReopenMode.AfterClose);
            AssertHeldMessagesReadable(store, store.FindQueue("slow")!);
        }
        finally
        {
            await store.DisposeAsync();
        }
    }

    [Fact]
    public async Task Without_compaction_the_same_workload_keeps_a_segment_per_held_message()
    {
        // The control: shows the bound above is compaction's doing, not the workload's.
        await using var store = await MessageStore.OpenAsync(Options(autoCompact: false));
        var queue = await store.DeclareQueueAsync("slow");
        for (var round = 0; round < Rounds; round++)
        {
            await PassThroughAsync(store, queue, PerRound, HoldOneIn);
        }

        await store.CheckpointAsync();
        await store.CheckpointAsync();
        Assert.True(store.GetStatistics().Segments > 10 * MaxSegmentsAfterCompaction, $"{store.GetStatistics().Segments} segments");
        AssertHeldMessagesReadable(store, queue);
    }

    /// <summary>Appends <paramref name="count"/> messages, delivers everything ready, and acks all but one in <paramref name="holdOneIn"/>.</summary>
    private async Task PassThroughAsync(MessageStore store, StoredQueue queue, int count, int holdOneIn)
    {
        var appends = new List<Task>(count);
        var seqs = new long[1];
        var numbers = new Dictionary<long, int>();
        for (var i = 0; i < count; i++)
        {
            var n = _appended++;
            appends.Add(store.AppendAsync([queue], Body(n), seqs).AsTask());
            numbers[seqs[0]] = n; // Assigned before AppendAsync returns.
        }

        await Task.WhenAll(appends);
        var acks = new List<long>(count);
        while (store.TryReadNext(queue, out var message))
        {
            using (message)
            {
                var n = numbers[message!.Seq];
                Assert.Equal(Body(n), message.Payload.ToArray());
                if (n % holdOneIn == 0)
                {
                    _held[message.Seq] = n;
                }
                else
                {
                    acks.Add(message.Seq);
                }
            }
        }

        Assert.Equal(count, acks.Count + numbers.Keys.Count(_held.ContainsKey));
        await store.AckAsync(queue, acks.ToArray());
    }

    private void AssertHeldMessagesReadable(MessageStore store, StoredQueue queue)
    {
        Assert.Equal(_held.Count, queue.MessageCount);
        var messages = store.ReadRange(queue, 0, _held.Count + 1);
        Assert.Equal(_held.Keys.Order(), messages.Select(m => m.Seq));
        foreach (var message in messages)
        {
            using (message)
            {
                Assert.Equal(Body(_held[message.Seq]), message.Payload.ToArray());
            }
        }
    }

    private static byte[] Body(int n)
    {
        var body = new byte[BodyBytes];
        BinaryPrimitives.WriteInt32LittleEndian(body, n);
        for (var j = 4; j < body.Length; j++)
        {
            body[j] = (byte)((n * 7) + j);
        }

        return body;
    }
}
