using Holdfast.Testing;

namespace Holdfast.Storage.Tests.OnDisk;

/// <summary>The last segment cut short mid-record on the real file system: a write a crash interrupted.</summary>
public sealed class TornTailTests : IDisposable
{
    private const int RecordBytes = 248; // 241 bytes of header and payload, 7 of padding.

    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private string Image => Path.Combine(_dir.Path, "image");

    [Theory]
    [InlineData(5)] // inside the header
    [InlineData(19)] // one byte short of a whole header
    [InlineData(100)] // inside the payload
    [InlineData(240)] // one byte short of the payload
    [InlineData(241)] // payload whole, padding missing
    [InlineData(244)] // padding partly written
    public async Task A_torn_last_record_is_truncated_and_appends_continue_at_the_last_whole_record(int bytesKept)
    {
        var live = Path.Combine(_dir.Path, "live");
        await using (var store = await DamagedStore.WriteAsync(live, checkpointAfter: 4))
        {
            StoreDirectory.Copy(live, Image);
        }

        var (segment, recordAt) = DamagedStore.Record(Image, 9);
        Assert.Equal(recordAt + RecordBytes, new FileInfo(segment).Length);
        using (var file = File.Open(segment, FileMode.Open, FileAccess.Write))
        {
            file.SetLength(recordAt + bytesKept);
        }

        await using (var store = await MessageStore.OpenAsync(DamagedStore.Options(Image)))
        {
            Assert.Equal(bytesKept, store.Recovery.BytesTruncated);
            Assert.Empty(store.Recovery.CorruptRecords);
            Assert.Equal(recordAt, new FileInfo(segment).Length);
            Assert.Equal(DamagedStore.Expected(Enumerable.Range(0, 9)), DamagedStore.Drain(store));

            // The torn message was never confirmed; its sequence number goes to the next append.
            var seqs = new long[1];
            await store.AppendAsync([store.FindQueue("q")!], DamagedStore.Body(10), seqs);
            Assert.Equal(9, seqs[0]);
            await store.AppendAsync([store.FindQueue("q")!], DamagedStore.Body(11), seqs);
            StoreDirectory.Copy(Image, Image + "-again"); // Crash again: the new records must be replayable.
        }

        await using (var store = await MessageStore.OpenAsync(DamagedStore.Options(Image + "-again")))
        {
            Assert.Equal(0, store.Recovery.BytesTruncated);
            Assert.Empty(store.Recovery.CorruptRecords);
            var expected = DamagedStore.Expected(Enumerable.Range(0, 9));
            expected.Add((9, DamagedStore.Expected([10])[0].Body));
            expected.Add((10, DamagedStore.Expected([11])[0].Body));
            Assert.Equal(expected, DamagedStore.Drain(store));
        }
    }
}
