using Holdfast.Amqp.Connection;
using Holdfast.Hosting;
using Holdfast.Storage;
using Holdfast.Testing;
using Microsoft.Extensions.Logging.Abstractions;
using RabbitMQ.Client;

namespace Holdfast.Conformance.Tests.Support;

/// <summary>A whole broker in the test process: a fresh store in a temp directory and the AMQP listener on 127.0.0.1, port 0.</summary>
internal sealed class InProcessBroker : IAsyncDisposable
{
    private readonly TempDirectory _directory;

    private InProcessBroker(TempDirectory directory, HoldfastServer server)
    {
        _directory = directory;
        Server = server;
    }

    public HoldfastServer Server { get; }

    public int Port => Server.AmqpEndPoint.Port;

    public static async Task<InProcessBroker> StartAsync(Func<AmqpServerOptions, AmqpServerOptions>? tune = null)
    {
        var directory = new TempDirectory("holdfast-conformance");
        var amqp = new AmqpServerOptions { HandshakeTimeout = TimeSpan.FromSeconds(5), CloseTimeout = TimeSpan.FromSeconds(2) };
        var options = new HoldfastServerOptions
        {
            Store = new StoreOptions { Directory = directory.Path, DefaultFlushPolicy = FlushPolicy.Async },
            AmqpPort = 0,
            Amqp = tune is null ? amqp : tune(amqp),
            ShutdownTimeout = TimeSpan.FromSeconds(3),
        };
        var server = await HoldfastServer.StartAsync(options, NullLoggerFactory.Instance, CancellationToken.None);
        return new InProcessBroker(directory, server);
    }

    public ConnectionFactory Factory(string user = "guest", string password = "guest", string virtualHost = "/") => new()
    {
        HostName = "127.0.0.1",
        Port = Port,
        UserName = user,
        Password = password,
        VirtualHost = virtualHost,
        AutomaticRecoveryEnabled = false,
        TopologyRecoveryEnabled = false,
        RequestedConnectionTimeout = TimeSpan.FromSeconds(5),
        ContinuationTimeout = TimeSpan.FromSeconds(5),
        ClientProvidedName = "conformance",
    };

    public async ValueTask DisposeAsync()
    {
        await Server.DisposeAsync();
        _directory.Dispose();
    }
}
