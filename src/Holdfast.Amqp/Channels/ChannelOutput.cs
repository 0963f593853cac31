using System.Buffers;
using Holdfast.Amqp.Codec;
using Holdfast.Amqp.Connection;

namespace Holdfast.Amqp.Channels;

/// <summary>
/// Sends frames on one channel, from any thread. A false return means the connection is closing
/// (or its peer stopped reading) and the frame was dropped; the handler is about to be disposed.
/// </summary>
public sealed class ChannelOutput
{
    private readonly FrameOutbox _outbox;
    private readonly Action<ChannelOutput, ChannelVerdict>? _requestClose;
    private readonly Lock _gate = new();
    private bool _closed;

    internal ChannelOutput(FrameOutbox outbox, ushort channelNumber, Action<ChannelOutput, ChannelVerdict>? requestClose = null)
    {
        _outbox = outbox;
        ChannelNumber = channelNumber;
        _requestClose = requestClose;
    }

    public ushort ChannelNumber { get; }

    /// <summary>The negotiated frame-max; content bodies are split to fit it.</summary>
    public uint FrameMax => _outbox.FrameMax;

    /// <summary>True while the socket lags behind: a broker should hold deliveries until <see cref="AddDrainedHandler"/>'s callback runs.</summary>
    public bool IsCongested => _outbox.IsCongested;

    public void AddDrainedHandler(Action handler) => _outbox.AddDrainedHandler(handler);

    public void RemoveDrainedHandler(Action handler) => _outbox.RemoveDrainedHandler(handler);

    public bool TrySendMethod<TMethod>(TMethod method)
        where TMethod : struct, IAmqpMethod
    {
        lock (_gate)
        {
            return !_closed && _outbox.TrySend(ChannelNumber, method);
        }
    }

    public bool TrySendContent<TMethod>(TMethod method, BasicProperties properties, ReadOnlySequence<byte> body)
        where TMethod : struct, IAmqpMethod
    {
        lock (_gate)
        {
            return !_closed && _outbox.TrySendContent(ChannelNumber, method, properties, body);
        }
    }

    /// <summary>
    /// Asks the connection to close this channel (or, for a hard error, the connection) as if the handler had answered
    /// a method with <paramref name="verdict"/>. From any thread; returns at once, and the connection's read loop does
    /// it next, unless this channel is gone by then.
    /// </summary>
    public void RequestClose(ChannelVerdict verdict) => _requestClose?.Invoke(this, verdict);

    /// <summary>
    /// The channel is gone: nothing more goes out through this output. Once this returns no send is
    /// in progress either, so a late confirm or delivery can never land on a channel reopened under the same number.
    /// </summary>
    public void Close()
    {
        lock (_gate)
        {
            _closed = true;
        }
    }
}
