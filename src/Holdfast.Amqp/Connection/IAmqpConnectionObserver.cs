using Holdfast.Amqp.Codec;

namespace Holdfast.Amqp.Connection;

/// <summary>
/// What happens to connections, for the host's logs and later its metrics. The AMQP door stays free
/// of logging libraries; the host adapts this to its logger. Called from connection loops and
/// timers: implementations must be quick and thread-safe.
/// </summary>
public interface IAmqpConnectionObserver
{
    void Opened(AmqpConnection connection);

    void AuthenticationFailed(AmqpConnection connection, AmqpCredentials? credentials, string reason);

    /// <summary>The server is closing the connection or one of its channels for this error.</summary>
    void ProtocolError(AmqpConnection connection, ushort channel, AmqpError protocolError);

    void Closed(AmqpConnection connection, string reason);

    /// <summary>A bug: an exception escaped the connection's own code. The connection is dropped, nothing else.</summary>
    void Faulted(AmqpConnection connection, Exception exception);

    /// <summary>
    /// A bug: a channel's handler threw what it did not foresee. That channel is closed (541 INTERNAL_ERROR, if it was
    /// still open); the connection and its other channels go on.
    /// </summary>
    void ChannelFaulted(AmqpConnection connection, ushort channel, Exception exception);
}
