namespace Holdfast.Broker.Sessions;

/// <summary>
/// A batch of sends opened on one thread. Output asked for there while it is open (a confirm, a delivery, a reply)
/// waits until the batch ends and then goes out on the thread that ends it, instead of waking another thread to send
/// it: the code that asks may hold a lock (a queue's, a channel's), and the socket write must not run under it, but
/// the end of a batch is a point where nothing is held. Outside a batch <see cref="TryDefer"/> refuses and the caller
/// hands the send to the thread pool, as before.
/// </summary>
/// <remarks>
/// <para>
/// Two places open one: a connection's read loop, around the synchronous parts of handling what it read (its own
/// batch, reused), and the confirms sent at the end of a group commit's completion (<see cref="OpenOnThisThread"/>).
/// </para>
/// <para>
/// Correctness never rests on the thread-static "current batch" being tidy. An <c>await</c> that resumes elsewhere can
/// end a batch on another thread than the one that opened it: the batch then closes all the same and sends what it
/// holds from there, and the opening thread, still pointing at it, finds it closed and stops deferring. A send is
/// added and a batch closes under one lock, so a send is either in the batch when it flushes or refused and sent the
/// ordinary way; none is left behind.
/// </para>
/// </remarks>
public sealed class SendBatch
{
    [ThreadStatic]
    private static SendBatch? t_current;

    [ThreadStatic]
    private static SendBatch? t_threadBatch;

    private readonly Lock _gate = new();
    private readonly List<IDeferredSend> _pending = new(4);
    private bool _open;
    private int _thread;
    private SendBatch? _previous;

    /// <summary>Defers <paramref name="send"/> to the end of the batch open on this thread; false when there is none.</summary>
    public static bool TryDefer(IDeferredSend send)
    {
        ArgumentNullException.ThrowIfNull(send);
        return t_current is { } batch && batch.TryAdd(send);
    }

    /// <summary>
    /// Opens this thread's own batch unless one is open here already (sends then join that one), for code that opens
    /// and ends it without an <c>await</c> between. Returns what to <see cref="End"/>, or null.
    /// </summary>
    public static SendBatch? OpenOnThisThread()
    {
        var own = t_threadBatch ??= new SendBatch();
        if ((t_current is { } current && current.IsOpenHere()) || own.IsOpenHere())
        {
            // The thread's own batch can be open below a current one that another thread ended: sends then go the
            // ordinary way, which is slower but never wrong, and opening it twice would throw.
            return null;
        }

        own.Begin();
        return own;
    }

    /// <summary>Opens the batch on this thread.</summary>
    /// <exception cref="InvalidOperationException">It is open already.</exception>
    public void Begin()
    {
        lock (_gate)
        {
            if (_open)
            {
                throw new InvalidOperationException("The send batch is open already.");
            }

            _open = true;
            _thread = Environment.CurrentManagedThreadId;
        }

        _previous = t_current;
        t_current = this;
    }

    /// <summary>Sends what the batch holds, on this thread, and closes it. Sends set off meanwhile from the batch's own thread join.</summary>
    public void End()
    {
        IDeferredSend? next = null;
        try
        {
            while (true)
            {
                lock (_gate)
                {
                    if (!_open)
                    {
                        return;
                    }

                    if (_pending.Count == 0)
                    {
                        _open = false;
                        break;
                    }

                    next = _pending[^1];
                    _pending.RemoveAt(_pending.Count - 1);
                }

                next.SendNow();
                next = null;
            }
        }
        finally
        {
            if (next is not null)
            {
                // A send threw: close anyway, and let the pool send what is left rather than leave it behind.
                List<IDeferredSend> left;
                lock (_gate)
                {
                    _open = false;
                    left = [.. _pending];
                    _pending.Clear();
                }

                foreach (var send in left)
                {
                    send.SendSoon();
                }
            }

            if (ReferenceEquals(t_current, this))
            {
                t_current = _previous;
            }

            _previous = null;
        }
    }

    private bool IsOpenHere()
    {
        lock (_gate)
        {
            return _open && _thread == Environment.CurrentManagedThreadId;
        }
    }

    private bool TryAdd(IDeferredSend send)
    {
        lock (_gate)
        {
            if (!_open || _thread != Environment.CurrentManagedThreadId)
            {
                return false;
            }

            if (!_pending.Contains(send))
            {
                _pending.Add(send);
            }

            return true;
        }
    }
}
