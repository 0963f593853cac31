using System.Globalization;
using Holdfast.Amqp.Channels;
using Holdfast.Amqp.Connection;
using Holdfast.Hosting;
using Holdfast.Storage;
using Holdfast.Testing;
using Microsoft.Extensions.Logging.Abstractions;
using RabbitMQ.Client;

namespace Holdfast.Conformance.Tests.Support;

/// <summary>
/// A whole broker in the test process: a fresh store in a temp directory and the AMQP listener on 127.0.0.1, port 0.
/// When <c>HOLDFAST_CONFORMANCE_AMQP</c> is set (<c>host:port</c>, e.g. <c>127.0.0.1:5673</c>) no server is started and
/// the tests talk to that broker instead, so the same suite can be run against the real RabbitMQ; <see cref="Server"/>
/// then throws, and tests that need broker internals must check <see cref="IsExternal"/> first.
/// </summary>
internal sealed class InProcessBroker : IAsyncDisposable
{
    public const string ExternalVariable = "HOLDFAST_CONFORMANCE_AMQP";

    private readonly TempDirectory? _directory;
    private readonly HoldfastServer? _server;
    private readonly string _host;
    private readonly int _externalPort;

    private InProcessBroker(TempDirectory directory, HoldfastServer server)
    {
        _directory = directory;
        _server = server;
        _host = "127.0.0.1";
    }

    private InProcessBroker(string host, int port)
    {
        _host = host;
        _externalPort = port;
    }

    /// <summary>True when the tests run against the broker named by <c>HOLDFAST_CONFORMANCE_AMQP</c> rather than one in this process.</summary>
    public bool IsExternal => _server is null;

    /// <summary>The in-process server; throws against an external broker, which has no internals to look at.</summary>
    public HoldfastServer Server => _server ?? throw new InvalidOperationException(
        $"This test needs the in-process broker's internals; it cannot run with {ExternalVariable} set.");

    public string Host => _host;

    public int Port => _server?.AmqpEndPoint.Port ?? _externalPort;

    /// <summary>The external target from <c>HOLDFAST_CONFORMANCE_AMQP</c>, or null to run in-process.</summary>
    public static (string Host, int Port)? ExternalTarget()
    {
        var value = Environment.GetEnvironmentVariable(ExternalVariable);
        if (string.IsNullOrWhiteSpace(value))
        {
            return null;
        }

        value = value.Trim();
        int colon = value.LastIndexOf(':');
        if (colon > 0 && value.IndexOf(']', StringComparison.Ordinal) < colon
            && int.TryParse(value.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out int port))
        {
            return (value[..colon].Trim('[', ']'), port);
        }

        return (value.Trim('[', ']'), 5672);
    }

    /// <param name="logs">Where the server logs; nowhere when null.</param>
    /// <param name="wrapHandlers">Wraps the broker's channel handlers (see <see cref="FaultingChannelHandlers"/>); ignored against an external broker.</param>
    public static async Task<InProcessBroker> StartAsync(
        Func<AmqpServerOptions, AmqpServerOptions>? tune = null,
        Microsoft.Extensions.Logging.ILoggerFactory? logs = null,
        Func<IAmqpChannelHandlerFactory, IAmqpChannelHandlerFactory>? wrapHandlers = null)
    {
        if (ExternalTarget() is { } external)
        {
            return new InProcessBroker(external.Host, external.Port);
        }

        var directory = new TempDirectory("holdfast-conformance");
        var amqp = new AmqpServerOptions { HandshakeTimeout = TimeSpan.FromSeconds(5), CloseTimeout = TimeSpan.FromSeconds(2) };
        var options = new HoldfastServerOptions
        {
            Store = new StoreOptions { Directory = directory.Path, DefaultFlushPolicy = FlushPolicy.Async },
            AmqpPort = 0,
            Amqp = tune is null ? amqp : tune(amqp),
            ShutdownTimeout = TimeSpan.FromSeconds(3),
            WrapChannelHandlers = wrapHandlers,
        };
        var server = await HoldfastServer.StartAsync(options, logs ?? NullLoggerFactory.Instance, CancellationToken.None);
        return new InProcessBroker(directory, server);
    }

    public ConnectionFactory Factory(string user = "guest", string password = "guest", string virtualHost = "/") =>
        LoopbackClient.Factory(Port, TimeSpan.FromSeconds(5), user, password, virtualHost, _host, name: "conformance");

    public async ValueTask DisposeAsync()
    {
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }

        _directory?.Dispose();
    }
}
