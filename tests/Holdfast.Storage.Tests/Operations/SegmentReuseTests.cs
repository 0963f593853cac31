using Holdfast.Storage.Log;
using Holdfast.Storage.Tests.Faults;
using Holdfast.Testing;

namespace Holdfast.Storage.Tests.Operations;

/// <summary>
/// Dead segment files are kept as spares and reused as new segments. A reused file still holds its
/// previous life's records past the new data, intact: recovery must end the log where the new data
/// ends, never return an old record, and never call the old records corruption.
/// </summary>
public sealed class SegmentReuseTests : IDisposable
{
    private const int SegmentSize = 4096;
    private const int BodySize = 500;

    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task Dead_segments_become_spares_and_new_segments_reuse_them()
    {
        var device = new FaultyDevice();
        await using var store = await MessageStore.OpenAsync(Options(device));
        var queue = await store.DeclareQueueAsync("q");

        await FillAndDrainAsync(store, queue, firstId: 0, count: 40);
        var reclaimed = store.GetStatistics();
        Assert.Equal(2, reclaimed.SpareSegmentFiles);
        Assert.Equal(2, SpareFiles(device).Count);
        Assert.True(reclaimed.SegmentsDeleted >= 3, $"only {reclaimed.SegmentsDeleted} segments reclaimed");

        var seqs = await AppendAsync(store, queue, firstId: 100, count: 20);
        var reused = store.GetStatistics();
        Assert.Equal(2, reused.SegmentsReused);
        Assert.Empty(SpareFiles(device));
        Assert.Equal(Ids(100, 20), ReadIds(store, queue, seqs));
    }

    [Fact]
    public async Task No_more_spares_are_kept_than_configured()
    {
        var device = new FaultyDevice();
        await using var store = await MessageStore.OpenAsync(Options(device) with { SpareSegmentFiles = 0 });
        var queue = await store.DeclareQueueAsync("q");

        await FillAndDrainAsync(store, queue, firstId: 0, count: 40);
        await AppendAsync(store, queue, firstId: 100, count: 20);

        Assert.Empty(SpareFiles(device));
        Assert.Equal(0, store.GetStatistics().SegmentsReused);
        Assert.True(store.GetStatistics().SegmentsDeleted >= 3);
    }

    [Fact]
    public async Task Dead_segments_the_disk_will_not_delete_are_counted_and_the_store_goes_on()
    {
        var device = new FaultyDevice();
        device.FailNextDeletes("log/", count: 1000);
        await using var store = await MessageStore.OpenAsync(Options(device) with { SpareSegmentFiles = 0 });
        var queue = await store.DeclareQueueAsync("q");

        await FillAndDrainAsync(store, queue, firstId: 0, count: 40);
        Assert.True(store.WaitForSegmentDeletions(TimeSpan.FromSeconds(30)));
        var statistics = store.GetStatistics();
        Assert.True(statistics.FileDeletionFailures >= 3, $"{statistics.FileDeletionFailures} failed deletions counted");
        Assert.False(statistics.Failed);

        var seqs = await AppendAsync(store, queue, firstId: 100, count: 20);
        Assert.Equal(Ids(100, 20), ReadIds(store, queue, seqs));
    }

    [Fact]
    public async Task A_dead_segment_cut_short_by_a_crash_during_its_deletion_harms_nothing_and_goes_at_the_next_checkpoints()
    {
        var device = new FaultyDevice();
        long[] kept;
        string deadSegment;
        await using (var store = await MessageStore.OpenAsync(Options(device) with { SpareSegmentFiles = 0 }))
        {
            var queue = await store.DeclareQueueAsync("q");
            var drained = await AppendAsync(store, queue, firstId: 0, count: 20);
            kept = await AppendAsync(store, queue, firstId: 100, count: 5);
            await store.AckAsync(queue, drained);

            // One checkpoint finds the first segments dead; the next would delete them. The crash comes between,
            // with the first one's file cut to half, as SegmentFileDeletion leaves it when a crash stops it midway.
            await store.CheckpointAsync();
            deadSegment = Segment.PathFor(0);
            Assert.True(device.FileExists(deadSegment));
            device = device.Crash();
        }

        using (var file = device.Open(deadSegment, create: false))
        {
            file.SetLength(file.Length / 2);
            file.Flush();
        }

        await using (var store = await MessageStore.OpenAsync(Options(device) with { SpareSegmentFiles = 0 }))
        {
            Assert.Empty(store.Recovery.CorruptRecords);
            var queue = store.FindQueue("q")!;
            Assert.Equal(Ids(100, 5), ReadIds(store, queue, kept));

            await store.CheckpointAsync();
            await store.CheckpointAsync();
            Assert.True(store.WaitForSegmentDeletions(TimeSpan.FromSeconds(30)));
            Assert.False(device.FileExists(deadSegment), "the half-deleted segment was not deleted again");
            Assert.Equal(Ids(100, 5), ReadIds(store, queue, kept));
        }
    }

    [Fact]
    public async Task A_crash_in_a_reused_segment_keeps_every_confirmed_message_and_returns_no_stale_one()
    {
        var device = new FaultyDevice();
        long[] confirmed;
        await using (var store = await MessageStore.OpenAsync(Options(device)))
        {
            // Written, never synced: the crash takes these back, and the old records behind them show.
            confirmed = await ReuseThenLeaveUnsyncedAsync(store, confirmedCount: 3, unsyncedCount: 3);
            Assert.Equal(1, store.GetStatistics().SegmentsReused);

            device = device.Crash();
        }

        var last = LastSegment(device);
        var lengthAtCrash = device.ReadAllBytes(last.Path).Length;
        await using (var store = await MessageStore.OpenAsync(Options(device)))
        {
            Assert.Empty(store.Recovery.CorruptRecords);
            Assert.Equal(0, store.Recovery.BytesTruncated);
            Assert.True(
                lengthAtCrash > store.Recovery.LogEnd - last.Base + RecordFormat.HeaderSize,
                "the reused segment should have held its previous life past the recovered end");

            // Past the recovered end nothing is left that a later open could replay: the file is cut there, or
            // (a segment of one page, as here) only the zeros the last synced write ended its page with remain.
            var after = device.ReadAllBytes(last.Path).AsSpan((int)(store.Recovery.LogEnd - last.Base));
            Assert.False(after.ContainsAnyExcept((byte)0), "old or unconfirmed bytes past the recovered end");

            var queue = store.FindQueue("q")!;
            Assert.Equal(Ids(100, 3), ReadIds(store, queue, confirmed));
            Assert.Equal(3, store.ListLive(queue).Count);

            // Appends go on over the old records, and read back after another reopen.
            var more = await AppendAsync(store, queue, firstId: 300, count: 2);
            Assert.Equal(Ids(300, 2), ReadIds(store, queue, more));
        }

        await using (var store = await MessageStore.OpenAsync(Options(device)))
        {
            Assert.Empty(store.Recovery.CorruptRecords);
            Assert.Equal(5, store.ListLive(store.FindQueue("q")!).Count);
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(5)]
    public async Task A_write_torn_in_a_reused_segment_is_cut_where_the_new_data_ends(int seed)
    {
        var device = new FaultyDevice();
        long[] confirmed;
        await using (var store = await MessageStore.OpenAsync(Options(device)))
        {
            confirmed = await ReuseThenLeaveUnsyncedAsync(store, confirmedCount: 2, unsyncedCount: 4);

            // Keeps a random prefix of the unsynced writes, the last one torn at a random byte.
            device = device.Crash(new Random(seed));
        }

        await using (var store = await MessageStore.OpenAsync(Options(device)))
        {
            Assert.Empty(store.Recovery.CorruptRecords);
            var queue = store.FindQueue("q")!;
            var live = store.ListLive(queue).Select(e => e.Seq).ToArray();
            Assert.Equal(Ids(100, 2), ReadIds(store, queue, confirmed));

            // Whatever else survived is one of the unconfirmed appends, whole, in order: never an old record.
            var survivors = ReadIds(store, queue, live.Except(confirmed).ToArray());
            Assert.Equal(Ids(200, survivors.Count), survivors);
        }

        // The torn bytes were cut once: a clean restart finds nothing to cut and nothing corrupt.
        await using (var store = await MessageStore.OpenAsync(Options(device)))
        {
            Assert.Equal(0, store.Recovery.BytesTruncated);
            Assert.Empty(store.Recovery.CorruptRecords);
        }
    }

    [Fact]
    public async Task A_torn_write_over_old_records_is_cut_once_and_not_found_again()
    {
        var device = new FaultyDevice();
        await using (var store = await MessageStore.OpenAsync(Options(device)))
        {
            await ReuseThenLeaveUnsyncedAsync(store, confirmedCount: 2, unsyncedCount: 3);

            // All three unsynced appends reach the disk, the last torn inside its body, over the old records.
            var last = LastSegment(device).Path;
            device = device.Crash((path, writes) => path == last && writes.Count > 0 ? new KeptWrites(writes.Count, 100) : KeptWrites.None);
        }

        await using (var store = await MessageStore.OpenAsync(Options(device)))
        {
            Assert.True(store.Recovery.BytesTruncated > 0, "the torn append is cut");
            Assert.Empty(store.Recovery.CorruptRecords);
            var queue = store.FindQueue("q")!;
            Assert.Equal(Ids(100, 2).Concat(Ids(200, 2)).ToList(), ReadIds(store, queue, store.ListLive(queue).Select(e => e.Seq).ToArray()));
        }

        await using (var store = await MessageStore.OpenAsync(Options(device)))
        {
            Assert.Equal(0, store.Recovery.BytesTruncated);
            Assert.Empty(store.Recovery.CorruptRecords);
            Assert.Equal(4, store.ListLive(store.FindQueue("q")!).Count);
        }
    }

    [Fact]
    public async Task Unsynced_records_left_past_an_old_record_by_out_of_order_writeback_never_come_back()
    {
        // Two-page records, eight to a segment: a record's pages can reach the disk or not, whole.
        const int body = 8192 - RecordFormat.HeaderSize - 14;
        var device = new FaultyDevice();
        string path;
        long segmentBase, end, ackedSeq;
        byte[] beforeUnsynced;
        await using (var store = await MessageStore.OpenAsync(Options(device) with { SegmentSizeBytes = 64 * 1024 }))
        {
            var queue = await store.DeclareQueueAsync("q");
            await FillAndDrainAsync(store, queue, firstId: 0, count: 40, bodySize: body);
            var id = 100;
            while (store.GetStatistics().SegmentsReused == 0)
            {
                await AppendAsync(store, queue, id++, 1, body);
            }

            await AppendAsync(store, queue, id, 2, body);
            (path, segmentBase) = LastSegment(device);
            end = store.GetStatistics().WrittenEnd;
            beforeUnsynced = device.ReadAllBytes(path);

            // Unsynced: two messages, then the ack of the second.
            await store.AppendAsync([queue], TestPayload.Make(900, body), policy: FlushPolicy.Async);
            var one = new long[1];
            await store.AppendAsync([queue], TestPayload.Make(901, body), one, FlushPolicy.Async);
            ackedSeq = one[0];
            await store.AckAsync(queue, ackedSeq, FlushPolicy.Async);

            // The power goes after the disk wrote the second message and the ack, but not the first.
            device = device.Crash((_, writes) => KeptWrites.All(writes));
        }

        var offset = (int)(end - segmentBase);
        Assert.Equal(RecordCheck.Stale, RecordFormat.Check(beforeUnsynced.AsSpan(offset, 8192), int.MaxValue, end, out _));
        using (var file = device.Open(path, create: false))
        {
            file.Write(offset, beforeUnsynced.AsSpan(offset, 8192));
            file.Flush();
        }

        long reusedSeq;
        await using (var store = await MessageStore.OpenAsync(Options(device) with { SegmentSizeBytes = 64 * 1024 }))
        {
            Assert.Empty(store.Recovery.CorruptRecords);
            Assert.Equal(end, store.Recovery.LogEnd);
            var queue = store.FindQueue("q")!;
            await AppendAsync(store, queue, 500, 1, body);
            reusedSeq = (await AppendAsync(store, queue, 501, 1, body))[0];
            Assert.Equal(ackedSeq, reusedSeq);
        }

        // The ack written for the lost first life of that sequence number must not take the confirmed message.
        await using (var store = await MessageStore.OpenAsync(Options(device) with { SegmentSizeBytes = 64 * 1024 }))
        {
            Assert.Equal(new List<int> { 501 }, ReadIds(store, store.FindQueue("q")!, [reusedSeq]));
        }
    }

    [Fact]
    public async Task A_clean_restart_whose_data_ends_inside_an_old_record_reports_nothing_torn()
    {
        var device = new FaultyDevice();
        await using (var store = await MessageStore.OpenAsync(Options(device)))
        {
            var queue = await store.DeclareQueueAsync("q");
            await FillAndDrainAsync(store, queue, firstId: 0, count: 40);

            // Smaller records than the previous life's: the data ends partway into an old one.
            var id = 100;
            while (store.GetStatistics().SegmentsReused == 0)
            {
                await AppendAsync(store, queue, id++, 1, bodySize: 333);
            }
        }

        await using (var store = await MessageStore.OpenAsync(Options(device)))
        {
            Assert.Empty(store.Recovery.CorruptRecords);
            Assert.Equal(0, store.Recovery.BytesTruncated);
        }
    }

    [Fact]
    public async Task A_reused_segment_keeps_its_size_while_in_use_and_is_cut_to_its_data_at_the_next_open()
    {
        var options = new StoreOptions { Directory = _dir.Path, SegmentSizeBytes = 64 * 1024, AutoCompact = false, CheckpointEveryBytes = long.MaxValue };
        long[] seqs;
        string path;
        long size;
        await using (var store = await MessageStore.OpenAsync(options))
        {
            var queue = await store.DeclareQueueAsync("q");
            await FillAndDrainAsync(store, queue, firstId: 0, count: 600, bodySize: 1000);
            Assert.True(store.GetStatistics().SpareSegmentFiles > 0);

            seqs = await AppendAsync(store, queue, firstId: 1000, count: 70, bodySize: 1000);
            Assert.True(store.GetStatistics().SegmentsReused > 0);
            var last = Directory.GetFiles(Path.Combine(_dir.Path, Segment.Directory), "*" + Segment.Extension).Order(StringComparer.Ordinal).Last();
            path = last;
            size = new FileInfo(path).Length;
            var written = store.GetStatistics().WrittenEnd - long.Parse(Path.GetFileNameWithoutExtension(path), System.Globalization.CultureInfo.InvariantCulture);
            Assert.True(size > written, $"a reused segment is as long as its previous life ({size} bytes), past the {written} written in this one");
        }

        await using (var store = await MessageStore.OpenAsync(options))
        {
            Assert.Empty(store.Recovery.CorruptRecords);
            Assert.Equal(0, store.Recovery.BytesTruncated);
            Assert.Equal(store.Recovery.LogEnd - long.Parse(Path.GetFileNameWithoutExtension(path), System.Globalization.CultureInfo.InvariantCulture), new FileInfo(path).Length);
            Assert.Equal(Ids(1000, 70), ReadIds(store, store.FindQueue("q")!, seqs));
        }
    }

    [Fact]
    public async Task Segments_begun_by_format_version_1_are_deleted_never_reused()
    {
        var path = Path.Combine(_dir.Path, "v1");
        StoreDirectory.Copy(Path.Combine(AppContext.BaseDirectory, "Fixtures", "store-v1"), path);
        var options = new StoreOptions { Directory = path, SegmentSizeBytes = 4096, AutoCompact = false, CheckpointEveryBytes = long.MaxValue };
        var v1Segments = Directory.GetFiles(Path.Combine(path, Segment.Directory)).Select(Path.GetFileNameWithoutExtension).ToList();

        await using var store = await MessageStore.OpenAsync(options);
        foreach (var queue in store.Queues)
        {
            await store.AckAsync(queue, store.ListLive(queue).Select(e => e.Seq).ToArray());
        }

        // The last version 1 segment goes on with version 2 records: mixed, so it must not be reused either.
        var q = store.Queues.First();
        await store.AckAsync(q, await AppendAsync(store, q, firstId: 0, count: 20));
        await AppendAsync(store, q, firstId: 100, count: 10);
        await store.CheckpointAsync();
        await store.CheckpointAsync();
        Assert.True(store.WaitForSegmentDeletions(TimeSpan.FromSeconds(30)));

        var dir = Path.Combine(path, Segment.Directory);
        var left = Directory.GetFiles(dir).Select(Path.GetFileNameWithoutExtension).ToList();
        Assert.Equal(4, v1Segments.Count);
        Assert.DoesNotContain(left, v1Segments.Contains);
        Assert.True(store.GetStatistics().SpareSegmentFiles > 0, "segments begun by version 2 are kept as spares");
    }

    [Fact]
    public async Task Writes_into_a_reused_segment_end_on_a_page_and_a_crash_there_cuts_the_old_life_past_the_zeros()
    {
        const int Pages = 4;
        var device = new FaultyDevice();
        var options = Options(device) with { SegmentSizeBytes = Pages * SegmentSize };
        long[] confirmed;
        string reusedPath;
        await using (var store = await MessageStore.OpenAsync(options))
        {
            var queue = await store.DeclareQueueAsync("q");

            // In a fresh segment a write ends where its data ends: past the end of file the kernel reads nothing.
            await store.AppendAsync([queue], TestPayload.Make(0, BodySize), policy: FlushPolicy.Async);
            var fresh = Assert.Single(device.UnsyncedWrites(Segment.PathFor(0)));
            Assert.Equal(store.GetStatistics().WrittenEnd, fresh.Offset + fresh.Length);
            await store.AckAsync(queue, store.ListLive(queue).Select(e => e.Seq).ToArray());

            // Drain until a roll takes a spare.
            for (var id = 1; store.GetStatistics().SegmentsReused == 0; id++)
            {
                Assert.True(id < 1_000, "no segment was reused");
                await store.AckAsync(queue, await AppendAsync(store, queue, firstId: id, count: 1));
                await store.CheckpointAsync();
            }

            var reused = LastSegment(device);
            reusedPath = reused.Path;
            confirmed = await AppendAsync(store, queue, firstId: 5_000, count: 2);
            await store.AppendAsync([queue], TestPayload.Make(6_000, BodySize), policy: FlushPolicy.Async);
            var write = device.UnsyncedWrites(reused.Path)[^1];
            var dataEnd = store.GetStatistics().WrittenEnd - reused.Base;
            Assert.Equal(0, (write.Offset + write.Length) % SegmentSize);
            Assert.InRange(write.Offset + write.Length - dataEnd, 0, SegmentSize - 1);
            Assert.False(write.Data.Span[(int)(dataEnd - write.Offset)..].ContainsAnyExcept((byte)0), "the page is padded with zeros");

            // The previous life is still there past the padded page: the crash below must not bring it back.
            var file = device.ReadAllBytes(reused.Path);
            var pageEnd = (int)(write.Offset + write.Length);
            Assert.True(file.AsSpan(pageEnd).ContainsAnyExcept((byte)0), "no old records past the padded page");
            device = device.Crash();
        }

        await using (var store = await MessageStore.OpenAsync(options with { Device = device }))
        {
            Assert.Empty(store.Recovery.CorruptRecords);
            var queue = store.FindQueue("q")!;
            Assert.Equal(Ids(5_000, 2), ReadIds(store, queue, confirmed));
            Assert.Equal(confirmed, store.ListLive(queue).Select(e => e.Seq));
            var reusedBase = LastSegment(device).Base;
            Assert.Equal(reusedPath, LastSegment(device).Path);
            var after = device.ReadAllBytes(reusedPath).AsSpan((int)(store.Recovery.LogEnd - reusedBase));
            Assert.False(after.ContainsAnyExcept((byte)0), "old or unconfirmed bytes past the recovered end");
        }
    }

    private static StoreOptions Options(FaultyDevice device) => new()
    {
        Device = device,
        SegmentSizeBytes = SegmentSize,
        AutoCompact = false,
        CheckpointEveryBytes = long.MaxValue,
    };

    /// <summary>Appends and acks <paramref name="count"/> messages, then checkpoints twice: the first decides which segments are dead, the second reclaims them.</summary>
    private static async Task FillAndDrainAsync(MessageStore store, StoredQueue queue, int firstId, int count, int bodySize = BodySize)
    {
        var seqs = await AppendAsync(store, queue, firstId, count, bodySize);
        await store.AckAsync(queue, seqs);
        await store.CheckpointAsync();
        await store.CheckpointAsync();
    }

    /// <summary>
    /// Fills and reclaims a segment, appends <paramref name="confirmedCount"/> confirmed messages (ids
    /// from 100) into the reused file that follows, then <paramref name="unsyncedCount"/> written but
    /// never synced (ids from 200), over its old records. Returns the confirmed messages' sequence numbers.
    /// </summary>
    private static async Task<long[]> ReuseThenLeaveUnsyncedAsync(MessageStore store, int confirmedCount, int unsyncedCount)
    {
        var queue = await store.DeclareQueueAsync("q");
        await FillAndDrainAsync(store, queue, firstId: 0, count: 40);
        var confirmed = await AppendAsync(store, queue, firstId: 100, count: confirmedCount);
        for (var id = 200; id < 200 + unsyncedCount; id++)
        {
            await store.AppendAsync([queue], TestPayload.Make(id, BodySize), policy: FlushPolicy.Async);
        }

        return confirmed;
    }

    private static async Task<long[]> AppendAsync(MessageStore store, StoredQueue queue, int firstId, int count, int bodySize = BodySize)
    {
        var seqs = new long[count];
        var one = new long[1];
        for (var i = 0; i < count; i++)
        {
            await store.AppendAsync([queue], TestPayload.Make(firstId + i, bodySize), one);
            seqs[i] = one[0];
        }

        return seqs;
    }

    private static List<int> ReadIds(MessageStore store, StoredQueue queue, long[] seqs)
    {
        var ids = new List<int>();
        foreach (var seq in seqs.Order())
        {
            Assert.True(store.TryRead(queue, seq, out var message), $"seq {seq} is missing");
            using (message)
            {
                ids.Add(TestPayload.Id(message!.Payload.Span));
            }
        }

        return ids;
    }

    private static List<int> Ids(int first, int count) => Enumerable.Range(first, count).ToList();

    private static List<string> SpareFiles(FaultyDevice device) =>
        device.ListFiles(Segment.Directory).Where(n => n.EndsWith(SpareSegments.Extension, StringComparison.Ordinal)).ToList();

    private static (string Path, long Base) LastSegment(FaultyDevice device)
    {
        var name = device.ListFiles(Segment.Directory).Where(n => n.EndsWith(Segment.Extension, StringComparison.Ordinal)).Order(StringComparer.Ordinal).Last();
        Assert.True(Segment.TryParseName(name, out var basePosition));
        return ($"{Segment.Directory}/{name}", basePosition);
    }
}
