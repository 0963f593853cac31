using Holdfast.Amqp.Codec;

namespace Holdfast.Amqp.Connection;

/// <summary>The observer when the host gives none.</summary>
internal sealed class SilentConnectionObserver : IAmqpConnectionObserver
{
    public static SilentConnectionObserver Instance { get; } = new();

    public void Opened(AmqpConnection connection)
    {
    }

    public void AuthenticationFailed(AmqpConnection connection, AmqpCredentials? credentials, string reason)
    {
    }

    public void ProtocolError(AmqpConnection connection, ushort channel, AmqpError protocolError)
    {
    }

    public void Closed(AmqpConnection connection, string reason)
    {
    }

    public void Faulted(AmqpConnection connection, Exception exception)
    {
    }

    public void ChannelFaulted(AmqpConnection connection, ushort channel, Exception exception)
    {
    }
}
