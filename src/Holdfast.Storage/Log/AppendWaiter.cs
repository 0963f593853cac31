using System.Collections.Concurrent;
using System.Threading.Tasks.Sources;

namespace Holdfast.Storage.Log;

/// <summary>
/// The task behind one append, pooled so that an append allocates nothing once the pool is warm.
/// Continuations run on the thread pool, never on the log's writer thread, so a slow caller cannot
/// delay the next group commit; the waiters one write or fsync releases are completed together on
/// one thread-pool item (<see cref="CompleteAll"/>), their continuations inline there, so a group
/// commit of a hundred appends costs one work item, not a hundred.
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

    public ValueTask Task => new(this, _core.Version);

    public static AppendWaiter Rent(long end, bool needsSync)
    {
        if (!Pool.TryDequeue(out var waiter))
        {
            waiter = new AppendWaiter();
        }

        waiter.End = end;
        waiter.NeedsSync = needsSync;
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

    /// <summary>Completes the waiters on one thread-pool item; the array becomes the item's, and must not be touched again.</summary>
    public static void CompleteAll(AppendWaiter[] batch)
    {
        if (batch.Length == 0)
        {
            return;
        }

        ThreadPool.UnsafeQueueUserWorkItem(
            static batch => CompletionScope.Run(batch, static batch =>
            {
                foreach (var waiter in batch)
                {
                    // Inline: this item is already off the writer thread, and is the one hop the batch pays.
                    waiter._core.RunContinuationsAsynchronously = false;
                    waiter._core.SetResult(true);
                }
            }),
            batch,
            preferLocal: false);
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
