using System.Buffers;
using System.IO.Pipelines;
using System.Threading.Channels;
using Holdfast.Amqp.Codec;
using Holdfast.Amqp.Framing;
using Holdfast.Broker.Sessions;

namespace Holdfast.Amqp.Connection;

/// <summary>
/// Frames on their way to the socket. Several parties write to one connection (its read loop, the
/// heartbeat timer, a broker shutdown, later queue deliveries): each encodes its frame into a
/// pending buffer under a short lock that is never held across an await, and a single writer loop
/// swaps the buffers and hands the bytes to the <see cref="PipeWriter"/>. Frames are therefore
/// never interleaved, and no producer waits for the network.
/// </summary>
/// <remarks>
/// The pending buffer is bounded: a peer that stops reading while frames pile up is not allowed to
/// grow it without limit; <see cref="TrySend{TMethod}"/> then fails and the connection is dropped.
/// </remarks>
internal sealed class FrameOutbox : IDeferredSend, IThreadPoolWorkItem
{
    private readonly Lock _gate = new();
    private readonly PipeWriter _output;
    private readonly TimeProvider _time;
    private readonly int _maxPendingBytes;
    private readonly Action? _onOverflow;
    // Ringing runs the writer loop on the ringing thread; Ring decides which thread that may be.
    private readonly Channel<bool> _doorbell = Channel.CreateBounded<bool>(
        new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite, SingleReader = true, AllowSynchronousContinuations = true });

    private ArrayBufferWriter<byte> _pending = new(1024);
    private ArrayBufferWriter<byte> _writing = new(1024);
    private bool _completing;
    private bool _overflowed;
    private long _lastWriteTimestamp;
    private uint _frameMax = AmqpConstants.FrameMinSize;
    private Action? _drained;
    private bool _connectionClosing;
    private volatile bool _congestionSeen;
    private int _ringQueued;

    /// <param name="onOverflow">Called once, on the thread pool, when the output first exceeds its bound: the owner drops the connection then, not at its next read.</param>
    public FrameOutbox(PipeWriter output, TimeProvider time, int maxPendingBytes, Action? onOverflow = null)
    {
        _onOverflow = onOverflow;
        _output = output;
        _time = time;
        _maxPendingBytes = maxPendingBytes;
        _lastWriteTimestamp = time.GetTimestamp();
    }

    /// <summary>frame-max for outgoing frames: frame-min-size until tune-ok, then the negotiated value.</summary>
    public uint FrameMax
    {
        get => Volatile.Read(ref _frameMax);
        set => Volatile.Write(ref _frameMax, value);
    }

    /// <summary>Time since bytes last went to the transport, for deciding when a heartbeat is due.</summary>
    public TimeSpan SinceLastWrite => _time.GetElapsedTime(Interlocked.Read(ref _lastWriteTimestamp));

    /// <summary>True once the output exceeded its bound; the owner drops the connection.</summary>
    public bool Overflowed
    {
        get
        {
            lock (_gate)
            {
                return _overflowed;
            }
        }
    }

    /// <summary>
    /// Deliveries pause while this is true: a quarter of the output bound is waiting for the socket.
    /// Whoever saw it true hears <see cref="AddDrainedHandler"/>'s callbacks once the backlog is written.
    /// </summary>
    public bool IsCongested
    {
        get
        {
            lock (_gate)
            {
                if (_pending.WrittenCount < _maxPendingBytes / 4)
                {
                    return false;
                }

                _congestionSeen = true;
                return true;
            }
        }
    }

    /// <summary>
    /// The connection is closing (connection.close sent or received): from now on only channel 0 may
    /// speak, as the spec requires; a late confirm or delivery from the broker is dropped here.
    /// </summary>
    public void CloseChannels()
    {
        lock (_gate)
        {
            _connectionClosing = true;
        }
    }

    public void AddDrainedHandler(Action handler)
    {
        lock (_gate)
        {
            _drained += handler;
        }
    }

    public void RemoveDrainedHandler(Action handler)
    {
        lock (_gate)
        {
            _drained -= handler;
        }
    }

    public bool TrySend<TMethod>(ushort channel, TMethod method)
        where TMethod : struct, IAmqpMethod
    {
        lock (_gate)
        {
            if (!CanWrite() || (_connectionClosing && channel != 0))
            {
                return false;
            }

            FrameWriter.WriteMethod(_pending, channel, method, FrameMax);
        }

        Ring();
        return true;
    }

    public bool TrySendContent<TMethod>(ushort channel, TMethod method, BasicProperties properties, ReadOnlySequence<byte> body)
        where TMethod : struct, IAmqpMethod
    {
        lock (_gate)
        {
            if (!CanWrite() || (_connectionClosing && channel != 0))
            {
                return false;
            }

            FrameWriter.WriteContent(_pending, channel, method, properties, body, FrameMax);
        }

        Ring();
        return true;
    }

    public bool TrySendHeartbeat()
    {
        lock (_gate)
        {
            if (!CanWrite())
            {
                return false;
            }

            FrameWriter.WriteHeartbeat(_pending);
        }

        Ring();
        return true;
    }

    public bool TrySendProtocolHeader()
    {
        lock (_gate)
        {
            if (!CanWrite())
            {
                return false;
            }

            FrameWriter.WriteProtocolHeader(_pending);
        }

        Ring();
        return true;
    }

    /// <summary>Accepts nothing more; the writer loop drains what is pending, then completes the transport's output.</summary>
    public void Complete()
    {
        lock (_gate)
        {
            _completing = true;
        }

        Ring();
    }

    /// <summary>Runs until <see cref="Complete"/> has drained, the peer stops reading for good, or <paramref name="cancellationToken"/> fires.</summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        Exception? failure = null;
        try
        {
            while (await _doorbell.Reader.WaitToReadAsync(cancellationToken).ConfigureAwait(false))
            {
                _doorbell.Reader.TryRead(out _);
                ArrayBufferWriter<byte> batch;
                bool last;
                lock (_gate)
                {
                    batch = _pending;
                    _pending = _writing;
                    _writing = batch;
                    last = _completing;
                }

                if (batch.WrittenCount > 0)
                {
                    var flush = await _output.WriteAsync(batch.WrittenMemory, cancellationToken).ConfigureAwait(false);
                    batch.ResetWrittenCount();
                    Interlocked.Exchange(ref _lastWriteTimestamp, _time.GetTimestamp());
                    if (flush.IsCompleted || flush.IsCanceled)
                    {
                        break;
                    }

                    NotifyIfDrained();
                }

                if (last)
                {
                    // A producer may have slipped a frame in between the swap and Complete; it was
                    // accepted, so it goes out too.
                    lock (_gate)
                    {
                        if (_pending.WrittenCount == 0)
                        {
                            break;
                        }
                    }

                    _doorbell.Writer.TryWrite(true);
                }
            }
        }
        catch (OperationCanceledException)
        {
            // Aborted: the connection is being torn down without ceremony.
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException or InvalidOperationException)
        {
            failure = ex;
        }
        finally
        {
            lock (_gate)
            {
                _completing = true;
            }

            await _output.CompleteAsync(failure).ConfigureAwait(false);
        }
    }

    private bool CanWrite()
    {
        // Once a frame has been refused for overflow nothing more goes out: a client must never see a
        // stream with frames missing from its middle (a reply, a confirm), only its end.
        if (_completing || _overflowed)
        {
            return false;
        }

        if (_pending.WrittenCount > _maxPendingBytes)
        {
            _overflowed = true;
            if (_onOverflow is { } onOverflow)
            {
                ThreadPool.UnsafeQueueUserWorkItem(static callback => callback(), onOverflow, preferLocal: false);
            }

            return false;
        }

        return true;
    }

    private void NotifyIfDrained()
    {
        if (!_congestionSeen)
        {
            return;
        }

        Action? drained;
        lock (_gate)
        {
            if (_pending.WrittenCount >= _maxPendingBytes / 4)
            {
                return;
            }

            _congestionSeen = false;
            drained = _drained;
        }

        drained?.Invoke();
    }

    /// <summary>
    /// Wakes the writer loop. Frames are encoded under locks (this outbox's, a channel's, a queue's), so the loop must
    /// not run here: inside a <see cref="SendBatch"/> it runs when the batch ends, on the thread that ends it; outside
    /// one, on a thread-pool item (one at a time, however often the bell rings before it runs).
    /// </summary>
    private void Ring()
    {
        if (!SendBatch.TryDefer(this))
        {
            ((IDeferredSend)this).SendSoon();
        }
    }

    void IDeferredSend.SendNow() => _doorbell.Writer.TryWrite(true);

    void IDeferredSend.SendSoon()
    {
        if (Interlocked.Exchange(ref _ringQueued, 1) == 0)
        {
            ThreadPool.UnsafeQueueUserWorkItem(this, preferLocal: false);
        }
    }

    void IThreadPoolWorkItem.Execute()
    {
        Volatile.Write(ref _ringQueued, 0);
        _doorbell.Writer.TryWrite(true);
    }
}
