using Holdfast.Testing;

namespace Holdfast.Storage.Tests.OnDisk;

/// <summary>A byte flipped in a record in the middle of a segment, on the real file system, between runs.</summary>
public sealed class CorruptRecordTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private string Live => Path.Combine(_dir.Path, "live");

    private string Image => Path.Combine(_dir.Path, "image");

    [Theory]
    [InlineData(0)] // CRC
    [InlineData(4)] // payload length, low byte
    [InlineData(6)] // payload length, high bytes: far past the segment's end
    [InlineData(8)] // record type
    [InlineData(10)] // format version
    [InlineData(13)] // the record's position
    [InlineData(DamagedStore.MarkerOffsetInRecord + 3)] // body
    public async Task A_corrupt_record_met_in_replay_is_reported_and_skipped_and_the_records_after_it_are_read(int byteInRecord)
    {
        await using (var live = await DamagedStore.WriteAsync(Live, checkpointAfter: 2))
        {
            StoreDirectory.Copy(Live, Image); // Crash image: messages 2.. are replayed from the log.
        }

        var (segment, recordAt) = DamagedStore.Record(Image, 5);
        StoreDirectory.FlipByte(segment, recordAt + byteInRecord);

        await using (var store = await MessageStore.OpenAsync(DamagedStore.Options(Image)))
        {
            var corrupt = Assert.Single(store.Recovery.CorruptRecords);
            Assert.Equal(RecordPosition(segment, recordAt), corrupt.Position);
            Assert.Equal(248, corrupt.Length);
            Assert.Equal(0, store.Recovery.BytesTruncated);
            Assert.Equal(9, store.Recovery.Messages);
            Assert.Equal(DamagedStore.Expected([0, 1, 2, 3, 4, 6, 7, 8, 9]), DamagedStore.Drain(store));

            // Appends go on after the last good record, not after the damage.
            var seqs = new long[1];
            await store.AppendAsync([store.FindQueue("q")!], DamagedStore.Body(10), seqs);
            Assert.Equal(10, seqs[0]);
        }

        await using (var store = await MessageStore.OpenAsync(DamagedStore.Options(Image)))
        {
            Assert.Empty(store.Recovery.CorruptRecords); // Behind the checkpoint now: reported once.
            Assert.Equal(DamagedStore.Expected([0, 1, 2, 3, 4, 6, 7, 8, 9, 10]), DamagedStore.Drain(store));
        }
    }

    [Fact]
    public async Task A_corrupt_record_behind_the_checkpoint_is_reported_when_read_skipped_and_written_off()
    {
        await (await DamagedStore.WriteAsync(Live)).DisposeAsync(); // Clean close: every record is behind the checkpoint.
        var (segment, recordAt) = DamagedStore.Record(Live, 5);
        StoreDirectory.FlipByte(segment, recordAt + DamagedStore.MarkerOffsetInRecord + 3);

        var reports = new List<CorruptionReport>();
        await using (var store = await MessageStore.OpenAsync(DamagedStore.Options(Live, reports.Add)))
        {
            Assert.Equal(0, store.Recovery.RecordsRecovered);
            Assert.Empty(store.Recovery.CorruptRecords);
            Assert.Equal(10, store.FindQueue("q")!.MessageCount); // Not known to be damaged until read.

            Assert.Equal(DamagedStore.Expected([0, 1, 2, 3, 4, 6, 7, 8, 9]), DamagedStore.Drain(store));
            var report = Assert.Single(reports);
            Assert.Equal(RecordPosition(segment, recordAt), report.Position);
            Assert.Contains("message 5", report.Reason, StringComparison.Ordinal);
            Assert.Equal(1, store.GetStatistics().CorruptRecordsSkipped);
            Assert.Equal(9, store.FindQueue("q")!.MessageCount);
        }

        reports.Clear();
        await using (var store = await MessageStore.OpenAsync(DamagedStore.Options(Live, reports.Add)))
        {
            Assert.Equal(9, store.FindQueue("q")!.MessageCount);
            Assert.Equal(DamagedStore.Expected([0, 1, 2, 3, 4, 6, 7, 8, 9]), DamagedStore.Drain(store));
            Assert.Empty(reports);
        }
    }

    private static long RecordPosition(string segmentPath, long offset) =>
        long.Parse(Path.GetFileNameWithoutExtension(segmentPath), System.Globalization.CultureInfo.InvariantCulture) + offset;
}
