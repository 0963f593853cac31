using Holdfast.Amqp.Connection;
using Holdfast.Conformance.Tests.Support;
using Holdfast.Hosting;
using Holdfast.Storage;
using Microsoft.Extensions.Logging.Abstractions;
using RabbitMQ.Client;

namespace Holdfast.Conformance.Tests.Durability;

/// <summary>An in-process broker on a store the test chooses (a directory or a fault double) that can be stopped and started again on the same data.</summary>
internal sealed class DurableBroker : IAsyncDisposable
{
    private readonly StoreOptions _store;
    private readonly Func<HoldfastServerOptions, HoldfastServerOptions>? _tune;
    private HoldfastServer? _server;

    private DurableBroker(StoreOptions store, Func<HoldfastServerOptions, HoldfastServerOptions>? tune)
    {
        _store = store;
        _tune = tune;
    }

    public HoldfastServer Server => _server ?? throw new InvalidOperationException("The broker is stopped.");

    public int Port => Server.AmqpEndPoint.Port;

    public static async Task<DurableBroker> StartAsync(StoreOptions store, Func<HoldfastServerOptions, HoldfastServerOptions>? tune = null)
    {
        var broker = new DurableBroker(store, tune);
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
        _server = await HoldfastServer.StartAsync(_tune is null ? options : _tune(options), NullLoggerFactory.Instance, CancellationToken.None);
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

    public ConnectionFactory Factory(string user = "guest", string password = "guest", string virtualHost = "/") =>
        LoopbackClient.Factory(Port, TimeSpan.FromSeconds(5), user, password, virtualHost);

    public async ValueTask DisposeAsync() => await StopAsync();
}
