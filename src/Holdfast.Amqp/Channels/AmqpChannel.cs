using Holdfast.Amqp.Codec;

namespace Holdfast.Amqp.Channels;

/// <summary>
/// One open channel as the connection sees it: its state, where it stands in a content sequence
/// (method, then header, then body frames up to the announced size), its flow flag and its handler.
/// Touched only by the connection's read loop.
/// </summary>
internal sealed class AmqpChannel(ushort number, IAmqpChannelHandler handler, ChannelOutput output)
{
    public ushort Number { get; } = number;

    /// <summary>This channel's output, which tells it from a later channel under the same number.</summary>
    public ChannelOutput Output { get; } = output;

    public IAmqpChannelHandler Handler { get; } = handler;

    public ChannelState State { get; set; } = ChannelState.Open;

    /// <summary>Set once the handler is disposed (at a server-side channel error, before close-ok arrives).</summary>
    public bool HandlerDisposed { get; set; }

    /// <summary>channel.flow as the client last set it; the broker stops deliveries while false.</summary>
    public bool FlowActive { get; set; } = true;

    /// <summary>The content-carrying method whose header or body is still due, if any.</summary>
    public AmqpMethodId? ContentMethod { get; private set; }

    public bool ExpectsHeader => ContentMethod is not null && !_headerSeen;

    public bool ExpectsBody => ContentMethod is not null && _headerSeen;

    public ulong BodyBytesRemaining { get; private set; }

    private bool _headerSeen;

    public void ExpectContent(AmqpMethodId method)
    {
        ContentMethod = method;
        _headerSeen = false;
        BodyBytesRemaining = 0;
    }

    /// <returns>True when the content is complete already (an empty body).</returns>
    public bool HeaderReceived(ulong bodySize)
    {
        _headerSeen = true;
        BodyBytesRemaining = bodySize;
        if (bodySize == 0)
        {
            ContentMethod = null;
            return true;
        }

        return false;
    }

    /// <returns>True when this body frame completes the content.</returns>
    public bool BodyReceived(ulong length)
    {
        BodyBytesRemaining -= length;
        if (BodyBytesRemaining == 0)
        {
            ContentMethod = null;
            _headerSeen = false;
            return true;
        }

        return false;
    }
}
