using Holdfast.Testing;

namespace Holdfast.Storage.Tests.Operations;

/// <summary>Work a continuation of a completed append defers runs once, on the same thread, after the group commit's completions; elsewhere nothing is deferred.</summary>
public sealed class CompletionScopeTests
{
    [Fact]
    public async Task A_continuation_of_an_append_can_defer_work_to_the_end_of_its_group_commit()
    {
        var device = new FaultyDevice();
        await using var store = await MessageStore.OpenAsync(new StoreOptions { Device = device, SegmentSizeBytes = 1 << 20, AutoCompact = false });
        var queue = await store.DeclareQueueAsync("q");
        // A thread-pool item of its own is outside any completion: nothing is deferred there.
        Assert.False(await Task.Run(() => MessageStore.TryRunAfterCompletions(static _ => { }, null)));

        // The append's fsync is held until its await has certainly suspended, so the continuation runs in the completion item.
        var stall = device.StallNextFsync("log/");
        var release = Task.Run(async () =>
        {
            await stall.WaitUntilHeldAsync();
            await Task.Delay(100);
            stall.Release();
        });
        var (thread, deferredThread, sawEnd) = await DeferFromContinuationAsync(store, queue);
        await release;
        Assert.Equal(thread, deferredThread);
        Assert.True(sawEnd, "the deferred work ran before the continuation that deferred it had finished");
    }

    /// <summary>Not the test method itself: its await must resume on the completing thread (no ConfigureAwait(false) in tests).</summary>
    private static async Task<(int Thread, int DeferredThread, bool SawEnd)> DeferFromContinuationAsync(MessageStore store, StoredQueue queue)
    {
        var ran = new TaskCompletionSource<(int Thread, bool SawEnd)>(TaskCreationOptions.RunContinuationsAsynchronously);
        var continuationEnded = false;
        await store.AppendAsync([queue], new byte[] { 1, 2, 3 }, policy: FlushPolicy.Sync).ConfigureAwait(false);

        // Now inside the completion item: the await resumed inline there.
        var thread = Environment.CurrentManagedThreadId;
        Assert.True(MessageStore.TryRunAfterCompletions(_ => ran.SetResult((Environment.CurrentManagedThreadId, Volatile.Read(ref continuationEnded))), null));
        Volatile.Write(ref continuationEnded, true);
        var (deferredThread, sawEnd) = await ran.Task.WaitAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(false);
        return (thread, deferredThread, sawEnd);
    }
}
