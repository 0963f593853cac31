using System.Net;
using Holdfast.Amqp.Codec;
using Holdfast.Amqp.Connection;
using Microsoft.Extensions.Logging;

namespace Holdfast.Hosting;

/// <summary>AMQP connection events as structured log entries, with the connection id in every one.</summary>
internal sealed partial class LoggingConnectionObserver(ILogger<AmqpConnection> logger) : IAmqpConnectionObserver
{
    public void Opened(AmqpConnection connection) =>
        LogOpened(logger, connection.Id, connection.RemoteEndPoint, connection.UserName, connection.VirtualHost, connection.ClientProvidedName, connection.Heartbeat.TotalSeconds);

    public void AuthenticationFailed(AmqpConnection connection, AmqpCredentials? credentials, string reason) =>
        LogAuthenticationFailed(logger, connection.Id, connection.RemoteEndPoint, credentials?.UserName, reason);

    public void ProtocolError(AmqpConnection connection, ushort channel, AmqpError protocolError) =>
        LogProtocolError(logger, connection.Id, channel, (ushort)protocolError.Code, protocolError.ReplyText);

    public void Closed(AmqpConnection connection, string reason) =>
        LogClosed(logger, connection.Id, connection.RemoteEndPoint, reason);

    public void Faulted(AmqpConnection connection, Exception exception) =>
        LogFaulted(logger, exception, connection.Id);

    public void ChannelFaulted(AmqpConnection connection, ushort channel, Exception exception) =>
        LogChannelFaulted(logger, exception, connection.Id, channel);

    [LoggerMessage(Level = LogLevel.Information, Message = "AMQP connection {ConnectionId} from {Remote} opened: user '{User}', vhost '{VirtualHost}', name '{ClientName}', heartbeat {HeartbeatSeconds} s")]
    private static partial void LogOpened(ILogger logger, long connectionId, EndPoint? remote, string user, string virtualHost, string? clientName, double heartbeatSeconds);

    [LoggerMessage(Level = LogLevel.Warning, Message = "AMQP connection {ConnectionId} from {Remote}: login refused for user '{User}': {Reason}")]
    private static partial void LogAuthenticationFailed(ILogger logger, long connectionId, EndPoint? remote, string? user, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "AMQP connection {ConnectionId}, channel {Channel}: closing with {ReplyCode} {ReplyText}")]
    private static partial void LogProtocolError(ILogger logger, long connectionId, ushort channel, ushort replyCode, string replyText);

    [LoggerMessage(Level = LogLevel.Information, Message = "AMQP connection {ConnectionId} from {Remote} closed: {Reason}")]
    private static partial void LogClosed(ILogger logger, long connectionId, EndPoint? remote, string reason);

    [LoggerMessage(Level = LogLevel.Error, Message = "AMQP connection {ConnectionId} failed with an internal error and was dropped")]
    private static partial void LogFaulted(ILogger logger, Exception exception, long connectionId);

    [LoggerMessage(Level = LogLevel.Error, Message = "AMQP connection {ConnectionId}, channel {Channel}: an internal error closed the channel; the connection goes on")]
    private static partial void LogChannelFaulted(ILogger logger, Exception exception, long connectionId, ushort channel);
}
