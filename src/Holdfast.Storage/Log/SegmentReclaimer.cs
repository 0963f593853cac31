using Holdfast.Storage.Devices;

namespace Holdfast.Storage.Log;

/// <summary>
/// Deletes dead segment files on a thread of its own (<c>holdfast-log-reclaim</c>), one after another, each at
/// the pace of <see cref="SegmentFileDeletion"/>. At that pace a deleted queue's gigabytes take seconds to go;
/// on the checkpoint thread, where deletions ran before, those seconds would hold up the next checkpoints, and
/// with them how far the next open has to replay.
/// <para>
/// When the store closes, what is still queued is deleted without the pauses: the close's own checkpoint hands
/// over the segments it found dead, and a restart should not find them. A file a crash leaves waiting lies below
/// the checkpoint that found it dead, so no open replays it, and a later checkpoint finds it dead again and
/// deletes it.
/// </para>
/// </summary>
internal sealed class SegmentReclaimer : IDisposable
{
    private readonly IStorageDevice _device;
    private readonly long _sliceBytes;
    private readonly TimeSpan _minimumPause;
    private readonly Queue<string> _paths = new();
    private readonly object _signal = new();
    private readonly Thread _thread;

    // Cancelled on close: the remaining deletions go without pauses, then the thread ends.
    private readonly CancellationTokenSource _closing = new();

    // Queued plus the one being deleted, and whether the thread has ended, under _signal.
    private int _pending;
    private bool _closed;

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

    /// <summary>Files a deletion could not remove (they stay on disk, unreferenced, and cost only space until a restart).</summary>
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
            if (_closed)
            {
                return; // After the close: the file stays for a later checkpoint to find dead again.
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

    /// <summary>Deletes what is queued without pausing, then ends the thread.</summary>
    public void Dispose()
    {
        lock (_signal)
        {
            _closing.Cancel();
            Monitor.PulseAll(_signal);
        }

        _thread.Join();
        _closing.Dispose();
    }

    private void Run()
    {
        while (true)
        {
            string path;
            lock (_signal)
            {
                while (_paths.Count == 0 && !_closing.IsCancellationRequested)
                {
                    Monitor.Wait(_signal);
                }

                if (_paths.Count == 0)
                {
                    _closed = true; // Under the lock: a file handed over from now on stays, none is left queued.
                    return;
                }

                path = _paths.Dequeue();
            }

            try
            {
                SegmentFileDeletion.Delete(_device, path, _sliceBytes, _minimumPause, _closing.Token);

                // Not needed for soundness (a file that comes back is dead and goes again), but the space
                // should not come back with it.
                _device.SyncDirectory(Segment.Directory);
                Interlocked.Increment(ref _deleted);
            }
            catch (Exception)
            {
                // Whatever the device threw, not on this thread: an exception here would end the process, and a
                // file left behind costs only space until a restart, whose checkpoints find it dead again.
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
