using System.Globalization;
using Holdfast.Testing;

namespace Holdfast.Storage.Tests.OnDisk;

/// <summary>A queue's index files behind the checkpoint that counts on them: the entries are found again in the log.</summary>
public sealed class IndexRebuildTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private string Live => Path.Combine(_dir.Path, "live");

    [Fact]
    public async Task Deleted_index_files_are_rebuilt_from_the_log_and_written_back()
    {
        await WriteWithAcksAsync();
        foreach (var file in Directory.GetFiles(IndexDirectory(), "*.idx"))
        {
            File.Delete(file);
        }

        await using (var store = await MessageStore.OpenAsync(DamagedStore.Options(Live)))
        {
            Assert.Equal(0, store.Recovery.RecordsRecovered);
            Assert.Equal(8, store.Recovery.IndexEntriesRebuilt); // 10 messages, 2 acked (known from the checkpoint)
            Assert.Equal(0, store.Recovery.MessagesLost);
            Assert.Equal(DamagedStore.Expected([0, 2, 3, 4, 6, 7, 8, 9]), DamagedStore.Drain(store));
        }

        await using (var store = await MessageStore.OpenAsync(DamagedStore.Options(Live)))
        {
            Assert.Equal(0, store.Recovery.IndexEntriesRebuilt);
            Assert.Equal(DamagedStore.Expected([0, 2, 3, 4, 6, 7, 8, 9]), DamagedStore.Drain(store));
        }
    }

    [Fact]
    public async Task An_index_file_cut_short_is_completed_from_the_log()
    {
        await WriteWithAcksAsync();
        var index = Assert.Single(Directory.GetFiles(IndexDirectory(), "*.idx"));
        using (var file = File.Open(index, FileMode.Open, FileAccess.Write))
        {
            file.SetLength(6 * 16); // entries 0..5 of 16 bytes each
        }

        await using var store = await MessageStore.OpenAsync(DamagedStore.Options(Live));
        Assert.Equal(4, store.Recovery.IndexEntriesRebuilt); // 6, 7, 8, 9
        Assert.Equal(0, store.Recovery.MessagesLost);
        Assert.Equal(DamagedStore.Expected([0, 2, 3, 4, 6, 7, 8, 9]), DamagedStore.Drain(store));
    }

    [Fact]
    public async Task A_message_whose_index_entry_and_record_are_both_damaged_is_reported_lost()
    {
        await WriteWithAcksAsync();
        foreach (var file in Directory.GetFiles(IndexDirectory(), "*.idx"))
        {
            File.Delete(file);
        }

        var (segment, recordAt) = DamagedStore.Record(Live, 3);
        StoreDirectory.FlipByte(segment, recordAt + DamagedStore.MarkerOffsetInRecord + 1);

        await using var store = await MessageStore.OpenAsync(DamagedStore.Options(Live));
        Assert.Equal(1, store.Recovery.MessagesLost);
        Assert.Equal(7, store.Recovery.IndexEntriesRebuilt);
        Assert.Contains(store.Recovery.CorruptRecords, c => c.Reason.Contains("message 3", StringComparison.Ordinal));
        Assert.Equal(DamagedStore.Expected([0, 2, 4, 6, 7, 8, 9]), DamagedStore.Drain(store));
    }

    /// <summary>Ten messages, 1 and 5 acked, half before a checkpoint and half after; closed cleanly so every entry is in the index.</summary>
    private async Task WriteWithAcksAsync()
    {
        await using var store = await DamagedStore.WriteAsync(Live, checkpointAfter: 5);
        await store.AckAsync(store.FindQueue("q")!, [1L, 5]);
    }

    // The store's first queue gets id 1.
    private string IndexDirectory() => Path.Combine(Live, "queues", 1.ToString("D10", CultureInfo.InvariantCulture));
}
