using Holdfast.Storage.Devices;

namespace Holdfast.Storage.Log;

/// <summary>
/// Deletes dead segment files on a thread of its own (<c>holdfast-log-reclaim</c>), one after another, each at
/// the pace of <see cref="SegmentFileDeletion"/>. At that pace a deleted queue's gigabytes take seconds to go;
/// on the checkpoint thread, where deletions ran before, those seconds would hold up the next checkpoints, and
/// with them how far the next open has to replay.
/// <para>
/// A file still waiting when the store closes stays on disk. It lies below the checkpoint that found it dead, so
/// no open replays it, and a later checkpoint finds it dead again and deletes it.
/// </para>
/// </summary>
internal sealed class SegmentReclaimer : IDisposable
{
    private readonly IStorageDevice _device;
    private readonly long _sliceBytes;
    private readonly TimeSpan _minimumPause;
    private readonly Queue<string> _paths = new();
    private readonly object _signal = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly Thread _thread;

    // Queued plus the one being deleted, under _signal.
    private int _pending;
    private long _deleted;
    private long _failures;

    public SegmentReclaimer(IStorageDevice device, long sliceBytes = SegmentFileDeletion.SliceBytes, TimeSpan? minimumPause = null)
    {
        _device = device;
        _sliceBytes = sliceBytes;
        _minimumPause = minimumPause ?? SegmentFileDeletion.MinimumPause;
        _thread = new Thread(Run) { IsBackground = true, Name = "holdfast-log-reclaim" };
        _thread.Start();
    }

    /// <summary>Files deleted so far.</summary>
    public long Deleted => Interlocked.Read(ref _deleted);

    /// <summary>Files a deletion could not remove (they stay on disk, unreferenced, and cost only space).</summary>
    public long Failures => Interlocked.Read(ref _failures);

    /// <summary>Files queued or being deleted.</summary>
    public int Pending
    {
        get
        {
            lock (_signal)
            {
                return _pending;
            }
        }
    }

    /// <summary>Queues a closed, dead segment file for deletion.</summary>
    public void Delete(string path)
    {
        lock (_signal)
        {
            if (_stop.IsCancellationRequested)
            {
                return; // Closing: the file stays for a later checkpoint, like one still queued.
            }

            _paths.Enqueue(path);
            _pending++;
            Monitor.PulseAll(_signal);
        }
    }

    /// <summary>Waits until nothing is queued or being deleted; false if <paramref name="timeout"/> passed first.</summary>
    public bool WaitIdle(TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        lock (_signal)
        {
            while (_pending > 0)
            {
                var left = deadline - DateTime.UtcNow;
                if (left <= TimeSpan.Zero || !Monitor.Wait(_signal, left))
                {
                    return _pending == 0;
                }
            }

            return true;
        }
    }

    /// <summary>Stops after the current slice; what is left stays on disk.</summary>
    public void Dispose()
    {
        lock (_signal)
        {
            _stop.Cancel();
            Monitor.PulseAll(_signal);
        }

        _thread.Join();
        _stop.Dispose();
    }

    private void Run()
    {
        while (true)
        {
            string path;
            lock (_signal)
            {
                while (_paths.Count == 0 && !_stop.IsCancellationRequested)
                {
                    Monitor.Wait(_signal);
                }

                if (_stop.IsCancellationRequested)
                {
                    _pending = 0;
                    _paths.Clear();
                    Monitor.PulseAll(_signal);
                    return;
                }

                path = _paths.Dequeue();
            }

            try
            {
                if (SegmentFileDeletion.Delete(_device, path, _sliceBytes, _minimumPause, _stop.Token))
                {
                    // Not needed for soundness (a file that comes back is dead and goes again), but the space
                    // should not come back with it.
                    _device.SyncDirectory(Segment.Directory);
                    Interlocked.Increment(ref _deleted);
                }
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                Interlocked.Increment(ref _failures);
            }

            lock (_signal)
            {
                _pending--;
                Monitor.PulseAll(_signal);
            }
        }
    }
}
