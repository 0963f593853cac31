namespace Holdfast.Broker.Alarms;

/// <summary>
/// Watches memory and free disk and raises an alarm while either is past its limit. Doors block
/// publishing connections while it is raised (never dropping what they sent) and let them go when it
/// clears. Probes are injectable so tests can raise the alarm without filling a disk.
/// </summary>
public sealed class ResourceMonitor : IDisposable
{
    private readonly Lock _gate = new();
    private readonly ResourceLimits _limits;
    private readonly Func<long> _memoryUsed;
    private readonly Func<long> _diskFree;
    private readonly long _memoryLimit;
    private readonly ITimer _timer;
    private TaskCompletionSource _clear = NewClear(completed: true);
    private string? _reason;

    public ResourceMonitor(ResourceLimits limits, string dataDirectory, TimeProvider? time = null, Func<long>? memoryUsed = null, Func<long>? diskFree = null)
    {
        ArgumentNullException.ThrowIfNull(limits);
        _limits = limits;
        _memoryUsed = memoryUsed ?? (static () => Environment.WorkingSet);
        var directory = Path.GetFullPath(dataDirectory);
        _diskFree = diskFree ?? (() => FreeBytes(directory));
        _memoryLimit = limits.MemoryHighWatermarkBytes > 0
            ? limits.MemoryHighWatermarkBytes
            : (long)(GC.GetGCMemoryInfo().TotalAvailableMemoryBytes * limits.MemoryHighWatermarkFraction);
        Check();
        _timer = (time ?? TimeProvider.System).CreateTimer(static state => ((ResourceMonitor)state!).Check(), this, limits.CheckInterval, limits.CheckInterval);
    }

    /// <summary>Raised with the new state whenever the alarm is raised or cleared.</summary>
    public event EventHandler<ResourceAlarmChangedEventArgs>? Changed;

    public long MemoryLimitBytes => _memoryLimit;

    public bool IsAlarmed
    {
        get
        {
            lock (_gate)
            {
                return _reason is not null;
            }
        }
    }

    /// <summary>Why publishers are blocked ("low on memory", "low on disk space"), or null.</summary>
    public string? Reason
    {
        get
        {
            lock (_gate)
            {
                return _reason;
            }
        }
    }

    /// <summary>Completes when no alarm is raised (at once if none is).</summary>
    public Task WhenClearAsync()
    {
        lock (_gate)
        {
#pragma warning disable VSTHRD003 // The monitor's own promise; completing it runs continuations asynchronously.
            return _clear.Task;
#pragma warning restore VSTHRD003
        }
    }

    /// <summary>Probes now (the timer does this every <see cref="ResourceLimits.CheckInterval"/>).</summary>
    public void Check()
    {
        string? reason = null;
        if (_memoryUsed() > _memoryLimit)
        {
            reason = "low on memory";
        }
        else if (_diskFree() < _limits.DiskFreeLimitBytes)
        {
            reason = "low on disk space";
        }

        TaskCompletionSource? release = null;
        lock (_gate)
        {
            if (reason == _reason)
            {
                return;
            }

            var wasAlarmed = _reason is not null;
            _reason = reason;
            if (reason is null)
            {
                release = _clear;
            }
            else if (!wasAlarmed)
            {
                _clear = NewClear(completed: false);
            }
        }

        release?.TrySetResult();
        Changed?.Invoke(this, new ResourceAlarmChangedEventArgs(reason));
    }

    public void Dispose() => _timer.Dispose();

    private static long FreeBytes(string directory)
    {
        try
        {
            return new DriveInfo(directory).AvailableFreeSpace;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException)
        {
            // A disk we cannot measure is not taken for a full one.
            return long.MaxValue;
        }
    }

    private static TaskCompletionSource NewClear(bool completed)
    {
        var source = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        if (completed)
        {
            source.SetResult();
        }

        return source;
    }
}
