using System.Collections.Concurrent;
using System.IO.Pipelines;
using System.Net;
using Holdfast.Amqp.Channels;
using Holdfast.Amqp.Codec;
using Holdfast.Broker.Alarms;

namespace Holdfast.Amqp.Connection;

/// <summary>
/// The AMQP door as a host sees it: give it each accepted connection's pipe and it runs the
/// protocol until the connection ends; ask it to close everything when the broker stops. It owns no
/// socket, so a test can drive it with an in-memory <see cref="Pipe"/> pair.
/// </summary>
public sealed class AmqpServer
{
    private readonly ConcurrentDictionary<long, (AmqpConnection Connection, Task Run)> _live = new();
    private volatile bool _shuttingDown;

    public AmqpServer(
        AmqpServerOptions options,
        IAmqpAuthenticator authenticator,
        IAmqpChannelHandlerFactory? channelHandlers = null,
        IAmqpConnectionObserver? observer = null,
        TimeProvider? timeProvider = null,
        ResourceMonitor? alarms = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(authenticator);
        options.Validate();
        Options = options;
        Authenticator = authenticator;
        ChannelHandlers = channelHandlers ?? NotImplementedChannelHandler.Instance;
        Observer = new ContainedConnectionObserver(observer ?? SilentConnectionObserver.Instance);
        Time = timeProvider ?? TimeProvider.System;
        Alarms = alarms;
        if (alarms is not null)
        {
            alarms.Changed += (_, change) =>
            {
                foreach (var (connection, _) in _live.Values)
                {
                    connection.OnResourceAlarm(change.Reason);
                }
            };
        }
    }

    public AmqpServerOptions Options { get; }

    public int ConnectionCount => _live.Count;

    internal IAmqpAuthenticator Authenticator { get; }

    internal IAmqpChannelHandlerFactory ChannelHandlers { get; }

    internal IAmqpConnectionObserver Observer { get; }

    internal TimeProvider Time { get; }

    /// <summary>Memory and disk alarms; while one is raised, publishing connections are blocked.</summary>
    internal ResourceMonitor? Alarms { get; }

    /// <summary>
    /// Runs one connection to its end. Never throws for anything the peer does; returns when the
    /// connection is closed, after which the caller closes the socket.
    /// </summary>
    public async Task RunConnectionAsync(IDuplexPipe transport, EndPoint? remoteEndPoint, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(transport);
        var connection = new AmqpConnection(this, transport, remoteEndPoint);
        var run = connection.RunAsync(cancellationToken);
        _live[connection.Id] = (connection, run);
        try
        {
            // Checked after registering, so a connection accepted during shutdown is either in the
            // snapshot CloseAllAsync takes or sees the flag here.
            if (_shuttingDown)
            {
                connection.RequestClose(ReplyCode.ConnectionForced, "broker shutdown");
            }

            await run.ConfigureAwait(false);
        }
        finally
        {
            _live.TryRemove(connection.Id, out _);
        }
    }

    /// <summary>
    /// Closes every connection with 320 CONNECTION_FORCED and waits up to <paramref name="timeout"/>
    /// for them to finish the close handshake; the rest are dropped. Connections that arrive later
    /// are turned away the same way.
    /// </summary>
    public async Task CloseAllAsync(string reason, TimeSpan timeout)
    {
        _shuttingDown = true;
        var live = _live.Values.ToArray();
        foreach (var (connection, _) in live)
        {
            connection.RequestClose(ReplyCode.ConnectionForced, reason);
        }

        // The connection loops run on the thread pool (no SynchronizationContext in a server), so
        // waiting for them from here cannot deadlock.
#pragma warning disable VSTHRD003
        var all = Task.WhenAll(live.Select(l => l.Run));
#pragma warning restore VSTHRD003
        try
        {
            await all.WaitAsync(timeout, Time).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            foreach (var (connection, _) in live)
            {
                connection.Abort("broker shutdown: close-ok not received in time");
            }

            await all.ConfigureAwait(false);
        }
    }
}
