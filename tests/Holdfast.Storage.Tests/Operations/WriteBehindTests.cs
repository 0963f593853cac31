using Holdfast.Storage.Tests.Faults;
using Holdfast.Testing;

namespace Holdfast.Storage.Tests.Operations;

/// <summary>
/// Under a policy that does not fsync each batch, the log asks the kernel to start writing back what it has
/// written every <see cref="StoreOptions.WriteBehindBytes"/>, over writes not yet fsynced, and the advice changes
/// nothing a reader sees.
/// </summary>
public sealed class WriteBehindTests
{
    private const int Step = 1 << 20;
    private const int RecordBody = 1000;
    private const int Records = 9_000; // ~9 MiB of log: several steps, in one segment and never fsynced

    [Fact]
    public async Task Unsynced_log_is_handed_to_writeback_a_step_at_a_time()
    {
        var device = new FaultyDevice();
        await using var store = await MessageStore.OpenAsync(Options(device, Step));
        var queue = await store.DeclareQueueAsync("q");
        var fsyncsBefore = device.Fsyncs;
        await TestPayload.AppendInGroupsAsync(store, queue, Records, RecordBody, FlushPolicy.Async);
        var written = store.GetStatistics().WrittenEnd;

        // The advice is given on a thread of its own, shortly after the write that makes a step due.
        // Each call stops at a page boundary, and what lies past the last step waits for the next one.
        var advice = await WaitFor(device, bytes => bytes >= written - Step - (written / Step * 4096));
        Assert.Equal(fsyncsBefore, device.Fsyncs); // nothing was fsynced meanwhile: every byte advised was dirty
        Assert.InRange(advice.Bytes, written - Step - (written / Step * 4096), written);
        Assert.InRange(advice.Calls, 1, written / Step);
        Assert.Equal(advice.Calls, advice.OverUnsyncedWrites);

        Assert.Equal(Enumerable.Range(0, Records), StoreContents.Ids(store, "q"));
    }

    [Fact]
    public async Task No_step_leaves_writeback_to_the_kernel()
    {
        var device = new FaultyDevice();
        await using var store = await MessageStore.OpenAsync(Options(device, step: null));
        var queue = await store.DeclareQueueAsync("q");
        await TestPayload.AppendInGroupsAsync(store, queue, Records, RecordBody, FlushPolicy.Async);
        await Task.Delay(300); // the other test sees its advice within milliseconds of the write

        Assert.Equal(0, device.WriteBacks.Calls);
    }

    private static async Task<CacheAdvice> WaitFor(FaultyDevice device, Func<long, bool> enough)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (!enough(device.WriteBacks.Bytes) && DateTime.UtcNow < deadline)
        {
            await Task.Delay(10);
        }

        return device.WriteBacks;
    }

    private static StoreOptions Options(FaultyDevice device, long? step) => new()
    {
        Device = device,
        SegmentSizeBytes = 64 << 20,
        WriteBehindBytes = step,
        AutoCompact = false,
        CheckpointEveryBytes = long.MaxValue,
    };
}
