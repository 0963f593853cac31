namespace Holdfast.Testing;

/// <summary>
/// Holds the next fsync of matching paths until released, so a test can act while the store's
/// writer is inside it (a slow disk, made deterministic). The stalled fsync then proceeds as usual,
/// or throws if the device crashed meanwhile.
/// </summary>
public sealed class FsyncStall
{
    private readonly TaskCompletionSource _reached = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly object _gate = new();
    private bool _released;

    internal FsyncStall(string pathPrefix) => PathPrefix = pathPrefix;

    public string PathPrefix { get; }

    /// <summary>Taken by an fsync (under the disk's lock): a stall holds one fsync only.</summary>
    internal bool Taken { get; private set; }

    /// <summary>True once an fsync has been held here.</summary>
    public bool WasHeld => _reached.Task.IsCompleted;

    /// <summary>Completes once an fsync is being held here; fails after <paramref name="timeout"/> (30 s by default) so a test cannot hang on it.</summary>
    public Task WaitUntilHeldAsync(TimeSpan? timeout = null) => _reached.Task.WaitAsync(timeout ?? TimeSpan.FromSeconds(30));

    public void Release()
    {
        lock (_gate)
        {
            _released = true;
            Monitor.PulseAll(_gate);
        }
    }

    internal void Take() => Taken = true;

    /// <summary>Called by the stalled fsync, outside the disk's lock.</summary>
    internal void Hold()
    {
        _reached.TrySetResult();
        lock (_gate)
        {
            while (!_released)
            {
                Monitor.Wait(_gate);
            }
        }
    }
}
