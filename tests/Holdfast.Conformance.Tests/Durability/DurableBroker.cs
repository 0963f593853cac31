using Holdfast.Amqp.Connection;
using Holdfast.Hosting;
using Holdfast.Storage;
using Microsoft.Extensions.Logging.Abstractions;
using RabbitMQ.Client;

namespace Holdfast.Conformance.Tests.Durability;

/// <summary>An in-process broker on a store the test chooses (a directory or a fault double) that can be stopped and started again on the same data.</summary>
internal sealed class DurableBroker : IAsyncDisposable
{
    private readonly StoreOptions _store;
    private HoldfastServer? _server;

    private DurableBroker(StoreOptions store) => _store = store;

    public HoldfastServer Server => _server ?? throw new InvalidOperationException("The broker is stopped.");

    public int Port => Server.AmqpEndPoint.Port;

    public static async Task<DurableBroker> StartAsync(StoreOptions store)
    {
        var broker = new DurableBroker(store);
        await broker.StartAsync();
        return broker;
    }

    public async Task StartAsync()
    {
        var options = new HoldfastServerOptions
        {
            Store = _store,
            AmqpPort = 0,
            Amqp = new AmqpServerOptions { HandshakeTimeout = TimeSpan.FromSeconds(5), CloseTimeout = TimeSpan.FromSeconds(2) },
            ShutdownTimeout = TimeSpan.FromSeconds(3),
        };
        _server = await HoldfastServer.StartAsync(options, NullLoggerFactory.Instance, CancellationToken.None);
    }

    /// <summary>A clean stop (connections closed with 320, store flushed), then a start on the same data.</summary>
    public async Task RestartAsync()
    {
        await StopAsync();
        await StartAsync();
    }

    public async Task StopAsync()
    {
        if (_server is { } server)
        {
            _server = null;
            await server.DisposeAsync();
        }
    }

    public ConnectionFactory Factory() => new()
    {
        HostName = "127.0.0.1",
        Port = Port,
        UserName = "guest",
        Password = "guest",
        AutomaticRecoveryEnabled = false,
        TopologyRecoveryEnabled = false,
        RequestedConnectionTimeout = TimeSpan.FromSeconds(5),
        ContinuationTimeout = TimeSpan.FromSeconds(5),
    };

    public async ValueTask DisposeAsync() => await StopAsync();
}
