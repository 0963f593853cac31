using System.Collections.Concurrent;
using System.Threading.Tasks.Sources;

namespace Holdfast.Storage.Log;

/// <summary>
/// The task behind one append, pooled so that an append allocates nothing once the pool is warm.
/// Continuations run on the thread pool, not on the log's threads, so a slow caller cannot delay the
/// next group commit; the waiters one write or fsync releases are completed together on one
/// thread-pool item (<see cref="CompleteAll"/>), their continuations inline there, so a group commit
/// of a hundred appends costs one work item, not a hundred. An append made with
/// <see cref="CompletesOnLogThread"/> is completed on the log's thread itself, before that item is
/// queued: its caller promised a continuation that never blocks and is done in microseconds (a
/// publisher's confirm), and waking a pool thread for it cost more than the work (docs/benchmarks.md,
/// "Confirms from the log's thread").
/// </summary>
internal sealed class AppendWaiter : IValueTaskSource
{
    private static readonly ConcurrentQueue<AppendWaiter> Pool = new();
    private ManualResetValueTaskSourceCore<bool> _core = new() { RunContinuationsAsynchronously = true };

    private AppendWaiter()
    {
    }

    /// <summary>Log position just past the record: the waiter is done when the policy's point passes it.</summary>
    public long End { get; private set; }

    public bool NeedsSync { get; private set; }

    /// <summary>Whether the continuation runs on the thread that completes the append (the log's writer or syncer).</summary>
    public bool CompletesOnLogThread { get; private set; }

    public ValueTask Task => new(this, _core.Version);

    public static AppendWaiter Rent(long end, bool needsSync, bool completesOnLogThread = false)
    {
        if (!Pool.TryDequeue(out var waiter))
        {
            waiter = new AppendWaiter();
        }

        waiter.End = end;
        waiter.NeedsSync = needsSync;
        waiter.CompletesOnLogThread = completesOnLogThread;
        return waiter;
    }

    /// <summary>Completes the waiters on one thread-pool item; <paramref name="waiters"/> may be reused as soon as this returns.</summary>
    public static void CompleteAll(List<AppendWaiter> waiters)
    {
        if (waiters.Count > 0)
        {
            CompleteAll(waiters.ToArray());
        }
    }

    /// <summary>
    /// Completes the waiters: those made to complete on the log's thread here and now, the others on one thread-pool
    /// item. The array becomes the item's, and must not be touched again.
    /// </summary>
    public static void CompleteAll(AppendWaiter[] batch)
    {
        if (batch.Length == 0)
        {
            return;
        }

        var here = 0;
        foreach (var waiter in batch)
        {
            here += waiter.CompletesOnLogThread ? 1 : 0;
        }

        if (here == 0)
        {
            CompleteOnPool(batch);
            return;
        }

        if (here == batch.Length)
        {
            CompleteHere(batch);
            return;
        }

        // Split before anything completes: a continuation that runs here hands its waiter back to the pool, and the
        // next append may take it at once, flag and all, for a record not yet written.
        var later = Array.FindAll(batch, static w => !w.CompletesOnLogThread);
        var now = Array.FindAll(batch, static w => w.CompletesOnLogThread);
        CompleteOnPool(later);
        CompleteHere(now);
    }

    private static void CompleteOnPool(AppendWaiter[] batch)
    {
        ThreadPool.UnsafeQueueUserWorkItem(static batch => CompletionScope.Run(batch, SignalInline), batch, preferLocal: false);
    }

    /// <summary>Completes each waiter with its continuation inline, on this thread: the one hop the batch pays is already behind it.</summary>
    private static void SignalInline(AppendWaiter[] batch)
    {
        foreach (var waiter in batch)
        {
            waiter._core.RunContinuationsAsynchronously = false;
            waiter._core.SetResult(true);
        }
    }

    /// <summary>
    /// Runs the continuations on this thread (the log's), in one completion scope, so that the work they defer
    /// (a channel's confirm frame) runs once after the last. Whatever they throw is a bug of theirs, not a failure
    /// of the log: it is rethrown on a thread-pool item, as it would have been thrown there.
    /// </summary>
    private static void CompleteHere(AppendWaiter[] batch)
    {
        try
        {
            CompletionScope.Run(batch, SignalInline);
        }
#pragma warning disable CA1031 // Handed on, not swallowed: the log's thread must go on.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            var thrown = System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(ex);
            ThreadPool.UnsafeQueueUserWorkItem(static thrown => thrown.Throw(), thrown, preferLocal: false);
        }
    }

    /// <summary>Fails the append; called under the store's lock, so its continuation goes to the thread pool on its own.</summary>
    public void Fail(Exception error)
    {
        _core.RunContinuationsAsynchronously = true;
        _core.SetException(error);
    }

    public void GetResult(short token)
    {
        try
        {
            _core.GetResult(token);
        }
        finally
        {
            _core.Reset();
            if (Pool.Count < 65536)
            {
                Pool.Enqueue(this);
            }
        }
    }

    public ValueTaskSourceStatus GetStatus(short token) => _core.GetStatus(token);

    public void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _core.OnCompleted(continuation, state, token, flags);
}
