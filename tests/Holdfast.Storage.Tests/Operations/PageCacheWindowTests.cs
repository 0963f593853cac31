using Holdfast.Storage.Tests.Faults;
using Holdfast.Testing;

namespace Holdfast.Storage.Tests.Operations;

/// <summary>
/// The log's bytes more than <see cref="StoreOptions.PageCacheLogBytes"/> behind the last fsync are dropped from
/// the page cache, across segments, and only once fsynced; the advice changes nothing a reader sees.
/// </summary>
public sealed class PageCacheWindowTests
{
    private const int Window = 1 << 20;
    private const int RecordBody = 1000;
    private const int Records = 9_000; // ~9 MiB of log: past the window by more than one 4 MiB step, over three segments

    [Fact]
    public async Task Fsynced_log_behind_the_window_is_dropped_from_the_cache_and_still_reads_back()
    {
        var device = new FaultyDevice();
        await using var store = await MessageStore.OpenAsync(Options(device, Window));
        var queue = await store.DeclareQueueAsync("q");
        await TestPayload.AppendInGroupsAsync(store, queue, Records, RecordBody, FlushPolicy.Sync);

        var synced = store.GetStatistics().SyncedEnd;
        var drops = device.CacheDrops;
        Assert.True(drops.Calls > 0, "nothing was dropped from the page cache");
        Assert.Equal(0, drops.OverUnsyncedWrites);

        // Everything up to a 4 MiB step short of the window's edge, less what lies past each segment's data.
        Assert.InRange(drops.Bytes, synced - Window - (4 << 20) - (3 * 2048), synced - Window);

        // Advice only: every record reads back, the oldest ones included.
        Assert.Equal(Enumerable.Range(0, Records), StoreContents.Ids(store, "q"));
    }

    [Fact]
    public async Task No_window_leaves_the_page_cache_to_the_kernel()
    {
        var device = new FaultyDevice();
        await using var store = await MessageStore.OpenAsync(Options(device, window: null));
        var queue = await store.DeclareQueueAsync("q");
        await TestPayload.AppendInGroupsAsync(store, queue, Records, RecordBody, FlushPolicy.Sync);

        Assert.Equal(0, device.CacheDrops.Calls);
    }

    private static StoreOptions Options(FaultyDevice device, long? window) => new()
    {
        Device = device,
        SegmentSizeBytes = 4 << 20,
        PageCacheLogBytes = window,
        AutoCompact = false,
        CheckpointEveryBytes = long.MaxValue,
    };
}
