namespace Holdfast.Broker.Sessions;

/// <summary>
/// Publisher confirms for one channel. Publishes complete in any order (a transient message at
/// once, a stored one when its fsync returns); confirms go out in sequence order, and a run of
/// acks that became ready together goes out as one <c>multiple</c> ack. Sending waits for the end of
/// the store's completion of a group commit (or a thread-pool item, for publishes completed
/// elsewhere), so that a group commit releasing a hundred publishes sends one frame, not a hundred.
/// </summary>
internal sealed class ConfirmTracker(IChannelEvents events)
{
    private readonly Lock _gate = new();
    private readonly Dictionary<ulong, bool> _completed = [];
    private ulong _nextToConfirm = 1;
    private bool _flushScheduled;

    public void Complete(ulong sequence, bool ack)
    {
        lock (_gate)
        {
            _completed[sequence] = ack;
            if (sequence != _nextToConfirm || _flushScheduled)
            {
                return;
            }

            _flushScheduled = true;
        }

        // Completed by the store's group commit: flush once its other appends are done, on the same
        // thread (no further hop). Otherwise (a transient publish) on a thread-pool item of its own.
        if (!Holdfast.Storage.MessageStore.TryRunAfterCompletions(static tracker => ((ConfirmTracker)tracker!).Flush(), this))
        {
            ThreadPool.UnsafeQueueUserWorkItem(static tracker => tracker.Flush(), this, preferLocal: false);
        }
    }

    private void Flush()
    {
        // The acks go out once the lock is released, on this thread: the end of a group commit's completion.
        var batch = SendBatch.OpenOnThisThread();
        try
        {
            FlushUnderLock();
        }
        finally
        {
            batch?.End();
        }
    }

    private void FlushUnderLock()
    {
        lock (_gate)
        {
            _flushScheduled = false;
            ulong runStart = 0;
            while (_completed.Remove(_nextToConfirm, out var ack))
            {
                if (ack)
                {
                    runStart = runStart == 0 ? _nextToConfirm : runStart;
                }
                else
                {
                    SendAcks(ref runStart, _nextToConfirm - 1);
                    events.Confirm(_nextToConfirm, multiple: false, ack: false);
                }

                _nextToConfirm++;
            }

            SendAcks(ref runStart, _nextToConfirm - 1);
        }
    }

    private void SendAcks(ref ulong runStart, ulong runEnd)
    {
        if (runStart == 0)
        {
            return;
        }

        // Everything below runStart is confirmed already, so "multiple up to runEnd" names exactly this run.
        events.Confirm(runEnd, multiple: runEnd > runStart, ack: true);
        runStart = 0;
    }
}
