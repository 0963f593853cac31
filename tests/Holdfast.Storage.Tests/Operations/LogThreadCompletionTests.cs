using Holdfast.Testing;

namespace Holdfast.Storage.Tests.Operations;

/// <summary>
/// An append made with <c>completeOnLogThread</c> resumes its awaiter on the log's own thread, the others of the same
/// fsync on a thread-pool item, and work a log-thread continuation defers runs there once all of them have run.
/// </summary>
public sealed class LogThreadCompletionTests
{
    private static readonly byte[] Head = [1, 2, 3];
    private static readonly byte[] Tail = [4, 5];

    [Fact]
    public async Task Appends_released_by_one_fsync_resume_on_the_log_thread_only_when_asked()
    {
        var device = new FaultyDevice();
        await using var store = await MessageStore.OpenAsync(new StoreOptions { Device = device, SegmentSizeBytes = 1 << 20, AutoCompact = false });
        var queue = await store.DeclareQueueAsync("q");

        // Both wait behind an fsync held on the writer, so the next batch takes them together and one fsync releases both.
        var (stall, blocker) = await HoldWriterAsync(device, store, queue);
        var onLogThread = ResumedOnAsync(store, queue, completeOnLogThread: true);
        var onPool = ResumedOnAsync(store, queue, completeOnLogThread: false);
        stall.Release();
        await blocker;

        var (logName, logIsPool) = await onLogThread.WaitAsync(TimeSpan.FromSeconds(10));
        var (_, poolIsPool) = await onPool.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.False(logIsPool);
        Assert.StartsWith("holdfast-log-", logName, StringComparison.Ordinal);
        Assert.True(poolIsPool);
    }

    [Fact]
    public async Task Work_deferred_on_the_log_thread_runs_there_after_every_continuation_of_the_fsync()
    {
        var device = new FaultyDevice();
        await using var store = await MessageStore.OpenAsync(new StoreOptions { Device = device, SegmentSizeBytes = 1 << 20, AutoCompact = false });
        var queue = await store.DeclareQueueAsync("q");

        var (stall, blocker) = await HoldWriterAsync(device, store, queue);
        var resumed = new Counter();
        var deferred = new TaskCompletionSource<(int Thread, int ResumedBefore)>(TaskCreationOptions.RunContinuationsAsynchronously);
        var first = DeferAsync(store, queue, resumed, deferred, defer: true);
        var second = DeferAsync(store, queue, resumed, deferred, defer: false);
        stall.Release();
        await blocker;

        var firstThread = await first.WaitAsync(TimeSpan.FromSeconds(10));
        var secondThread = await second.WaitAsync(TimeSpan.FromSeconds(10));
        var (deferredThread, resumedBefore) = await deferred.Task.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(firstThread, secondThread);
        Assert.Equal(firstThread, deferredThread);
        Assert.Equal(2, resumedBefore);
    }

    /// <summary>An append whose fsync is held (on the writer: nothing else is pending), so that the appends made next wait in one batch.</summary>
    private static async Task<(FsyncStall Stall, Task Blocker)> HoldWriterAsync(FaultyDevice device, MessageStore store, StoredQueue queue)
    {
        var stall = device.StallNextFsync("log/");
        var blocker = store.AppendAsync([queue], Head, Tail, default, FlushPolicy.Sync).AsTask();
        await stall.WaitUntilHeldAsync();
        return (stall, blocker);
    }

    private static async Task<(string? Name, bool IsPool)> ResumedOnAsync(MessageStore store, StoredQueue queue, bool completeOnLogThread)
    {
        await store.AppendAsync([queue], Head, Tail, default, FlushPolicy.Sync, completeOnLogThread).ConfigureAwait(false);
        return (Thread.CurrentThread.Name, Thread.CurrentThread.IsThreadPoolThread);
    }

    private static async Task<int> DeferAsync(MessageStore store, StoredQueue queue, Counter resumed, TaskCompletionSource<(int, int)> deferred, bool defer)
    {
        await store.AppendAsync([queue], Head, Tail, default, FlushPolicy.Sync, completeOnLogThread: true).ConfigureAwait(false);
        var thread = Environment.CurrentManagedThreadId;
        if (defer)
        {
            // Counts the continuations that had resumed when it runs: all of this fsync's, if it runs after them.
            Assert.True(MessageStore.TryRunAfterCompletions(_ => deferred.SetResult((Environment.CurrentManagedThreadId, Volatile.Read(ref resumed.Value))), null));
        }

        Interlocked.Increment(ref resumed.Value);
        return thread;
    }

    private sealed class Counter
    {
        public int Value;
    }
}
