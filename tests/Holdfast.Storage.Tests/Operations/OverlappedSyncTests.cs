using Holdfast.Storage.Tests.Faults;
using Holdfast.Testing;

namespace Holdfast.Storage.Tests.Operations;

/// <summary>
/// With appends still pending after a batch, the writer hands that batch's fsync to the syncer thread
/// and writes the next batch while the disk works. What was written during an fsync waits for the
/// next one, and the log is never fsynced by two threads at once.
/// </summary>
public sealed class OverlappedSyncTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task The_writer_writes_on_while_the_syncer_fsyncs_and_what_it_wrote_waits_for_the_next_fsync()
    {
        var device = new FaultyDevice();
        await using var store = await MessageStore.OpenAsync(OverlapOptions(device));
        var queue = await store.DeclareQueueAsync("q");
        await using var load = new SyncLoad(store, queue);

        var held = await HoldAnFsyncWhileTheWriterWritesOnAsync(store, queue, device);
        try
        {
            Assert.False(held.Late.IsCompleted, "an append written after the fsync in progress began was confirmed before any fsync covered it");
            Assert.True(store.GetStatistics().SyncedEnd < held.LateEnd, "the store claims as synced what was written during the held fsync");
            held.Stall.Release();
            await held.Late.WaitAsync(Patience);
            Assert.True(store.GetStatistics().SyncedEnd >= held.LateEnd);
            Assert.True(store.GetStatistics().OverlappedFsyncs > 0, $"{store.GetStatistics()}");
        }
        finally
        {
            held.Stall.Release();
        }
    }

    [Fact]
    public async Task A_checkpoint_waits_for_the_syncers_fsync_instead_of_fsyncing_the_log_beside_it()
    {
        var device = new FaultyDevice();
        await using var store = await MessageStore.OpenAsync(OverlapOptions(device));
        var queue = await store.DeclareQueueAsync("q");
        await using var load = new SyncLoad(store, queue);

        var held = await HoldAnFsyncWhileTheWriterWritesOnAsync(store, queue, device);
        try
        {
            var attempts = device.FsyncAttempts("log/");
            var checkpoint = store.CheckpointAsync();

            // The checkpoint needs the log durable first. Had the writer fsynced it beside the held
            // fsync, this attempt would be counted (only the held one is stalled).
            await Task.Delay(200);
            Assert.Equal(attempts, device.FsyncAttempts("log/"));
            Assert.False(checkpoint.IsCompleted);
            Assert.False(held.Late.IsCompleted);

            held.Stall.Release();
            await checkpoint.WaitAsync(Patience);
            await held.Late.WaitAsync(Patience);
            Assert.True(device.FsyncAttempts("log/") > attempts);
        }
        finally
        {
            held.Stall.Release();
        }
    }

    [Fact]
    public async Task A_lone_writer_awaiting_each_append_is_fsynced_by_the_writer_thread_with_no_hand_off()
    {
        var device = new FaultyDevice();
        await using var store = await MessageStore.OpenAsync(Options(device));
        var queue = await store.DeclareQueueAsync("q");
        var before = store.GetStatistics().Fsyncs;
        for (var id = 0; id < 200; id++)
        {
            await store.AppendAsync([queue], TestPayload.Make(id, 8192), policy: FlushPolicy.Sync);
        }

        var statistics = store.GetStatistics();
        Assert.True(statistics.Fsyncs - before >= 200, "each awaited sync append needs an fsync of its own");
        Assert.Equal(0, statistics.OverlappedFsyncs);
    }

    /// <summary>
    /// Holds a log fsync and returns once an append made after it was held has been written: the
    /// syncer, not the writer, is inside that fsync. Which thread takes a given fsync depends on timing
    /// (the writer fsyncs itself when nothing else is pending), so it tries a few times.
    /// </summary>
    private static async Task<HeldFsync> HoldAnFsyncWhileTheWriterWritesOnAsync(MessageStore store, StoredQueue queue, FaultyDevice device)
    {
        for (var attempt = 0; attempt < 50; attempt++)
        {
            var stall = device.StallNextFsync("log/");
            await stall.WaitUntilHeldAsync(Patience);
            var late = store.AppendAsync([queue], TestPayload.Make(-1 - attempt), policy: FlushPolicy.Sync).AsTask();
            var lateEnd = store.GetStatistics().LogEnd;
            var deadline = DateTime.UtcNow + TimeSpan.FromMilliseconds(100);
            while (DateTime.UtcNow < deadline)
            {
                if (store.GetStatistics().WrittenEnd >= lateEnd)
                {
                    return new HeldFsync(stall, late, lateEnd);
                }

                await Task.Delay(5);
            }

            stall.Release();
            await late.WaitAsync(Patience);
        }

        Assert.Fail("In 50 held log fsyncs the writer never wrote on: no fsync overlapped the next batch's write.");
        throw new InvalidOperationException("unreachable");
    }

    /// <summary>
    /// Every sync batch's fsync goes to the syncer, so the helper's held fsync is always the syncer's. With the
    /// default threshold the writer fsyncs a batch itself when less than 64 KiB waits behind it, and on a loaded
    /// machine the load's appenders fell behind so often that 50 held fsyncs in a row were the writer's.
    /// </summary>
    private static StoreOptions OverlapOptions(FaultyDevice device) => Options(device) with { SyncHandOffBytes = 0 };

    private static StoreOptions Options(FaultyDevice device) => new()
    {
        Device = device,
        SegmentSizeBytes = 64 << 20,
        CheckpointEveryBytes = long.MaxValue,
        AutoCompact = false,
    };

    private sealed record HeldFsync(FsyncStall Stall, Task Late, long LateEnd);

    /// <summary>Four appenders with 16 sync appends of 8 KiB in flight each, so that more than the hand-off threshold is pending whenever a batch is written.</summary>
    private sealed class SyncLoad : IAsyncDisposable
    {
        private const int Window = 16;
        private readonly CancellationTokenSource _stop = new();
        private readonly Task[] _appenders;

        public SyncLoad(MessageStore store, StoredQueue queue)
        {
            _appenders = [.. Enumerable.Range(0, 4).Select(writer => Task.Run(async () =>
            {
                var inFlight = new Queue<Task>();
                for (var id = writer * 1_000_000; !_stop.IsCancellationRequested; id++)
                {
                    inFlight.Enqueue(store.AppendAsync([queue], TestPayload.Make(id, 8192), policy: FlushPolicy.Sync).AsTask());
                    if (inFlight.Count == Window)
                    {
                        await inFlight.Dequeue();
                    }
                }

                await Task.WhenAll(inFlight);
            }))];
        }

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            await Task.WhenAll(_appenders).WaitAsync(Patience);
            _stop.Dispose();
        }
    }
}
