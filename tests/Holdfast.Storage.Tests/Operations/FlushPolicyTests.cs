using Holdfast.Testing;

namespace Holdfast.Storage.Tests.Operations;

public sealed class FlushPolicyTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private StoreOptions Options(FlushPolicy policy, TimeProvider? clock = null) => new()
    {
        Directory = Path.Combine(_dir.Path, "store"),
        AutoCompact = false,
        DefaultFlushPolicy = policy,
        TimeProvider = clock ?? TimeProvider.System,
    };

    [Fact]
    public async Task Interval_appends_complete_before_fsync_and_the_store_fsyncs_when_the_period_has_passed()
    {
        var clock = new ManualClock();
        await using var store = await MessageStore.OpenAsync(Options(FlushPolicy.Interval(TimeSpan.FromSeconds(1), 1L << 30), clock));
        var queue = await store.DeclareQueueAsync("q", FlushPolicy.Sync);
        Assert.True(Synced(store));
        var before = store.GetStatistics().Fsyncs;

        for (var i = 0; i < 10; i++)
        {
            await store.AppendAsync([queue], new byte[100]);
        }

        // The clock stands still: the appends completed, nothing fsynced them.
        var statistics = store.GetStatistics();
        Assert.Equal(before, statistics.Fsyncs);
        Assert.True(statistics.SyncedEnd < statistics.WrittenEnd);

        clock.Advance(TimeSpan.FromSeconds(1));
        await Eventually.TrueAsync(() => store.GetStatistics().Fsyncs > before && Synced(store), TimeSpan.FromSeconds(5), "no fsync after the period passed");
    }

    [Fact]
    public async Task Interval_fsyncs_on_its_own_within_the_period_on_the_real_clock()
    {
        await using var store = await MessageStore.OpenAsync(Options(FlushPolicy.Interval(TimeSpan.FromMilliseconds(50), 1L << 30)));
        var queue = await store.DeclareQueueAsync("q");
        var before = store.GetStatistics().Fsyncs;
        for (var i = 0; i < 10; i++)
        {
            await store.AppendAsync([queue], new byte[100]);
        }

        await Eventually.TrueAsync(() => store.GetStatistics().Fsyncs > before && Synced(store), TimeSpan.FromSeconds(10), "no fsync without a Sync append");
    }

    [Fact]
    public async Task Interval_fsyncs_as_soon_as_its_byte_bound_is_reached()
    {
        var clock = new ManualClock();
        await using var store = await MessageStore.OpenAsync(Options(FlushPolicy.Interval(TimeSpan.FromHours(1), 4096), clock));
        var queue = await store.DeclareQueueAsync("q", FlushPolicy.Sync);
        Assert.True(Synced(store));
        var before = store.GetStatistics().Fsyncs;

        await store.AppendAsync([queue], new byte[1000]);
        await store.AppendAsync([queue], new byte[1000]);
        Assert.Equal(before, store.GetStatistics().Fsyncs);

        await store.AppendAsync([queue], new byte[3000]);
        await Eventually.TrueAsync(() => store.GetStatistics().Fsyncs == before + 1 && Synced(store), TimeSpan.FromSeconds(5), "no fsync after 4096 unsynced bytes");
    }

    [Fact]
    public async Task Async_appends_complete_without_fsync_survive_a_process_crash_and_a_checkpoint_syncs_them()
    {
        var store = await MessageStore.OpenAsync(Options(FlushPolicy.Async));
        try
        {
            var queue = await store.DeclareQueueAsync("q");
            var before = store.GetStatistics().Fsyncs;
            var appends = new List<Task>();
            for (var i = 0; i < 100; i++)
            {
                appends.Add(store.AppendAsync([queue], BitConverter.GetBytes(i)).AsTask());
            }

            await Task.WhenAll(appends);
            var statistics = store.GetStatistics();
            Assert.Equal(before, statistics.Fsyncs);
            Assert.True(statistics.SyncedEnd < statistics.WrittenEnd);

            // A process crash keeps what the operating system was given.
            var recovered = await Reopen.Async(store, ReopenMode.FromCrashImage);
            await using (recovered)
            {
                Assert.Equal(100, recovered.FindQueue("q")!.MessageCount);
            }

            store = await MessageStore.OpenAsync(Options(FlushPolicy.Async));
            queue = store.FindQueue("q")!;
            await store.AppendAsync([queue], "one more"u8);
            Assert.False(Synced(store));
            await store.CheckpointAsync();
            Assert.True(Synced(store));
        }
        finally
        {
            await store.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_sync_append_is_on_disk_when_its_task_completes()
    {
        await using var store = await MessageStore.OpenAsync(Options(FlushPolicy.Async));
        var queue = await store.DeclareQueueAsync("q");
        await store.AppendAsync([queue], new byte[10], policy: FlushPolicy.Sync);
        var statistics = store.GetStatistics();
        Assert.Equal(statistics.WrittenEnd, statistics.SyncedEnd);
    }

    private static bool Synced(MessageStore store)
    {
        var statistics = store.GetStatistics();
        return statistics.SyncedEnd == statistics.WrittenEnd;
    }
}
