using System.Diagnostics;
using Holdfast.Conformance.Tests.Broker;
using Holdfast.Conformance.Tests.Durability;
using Holdfast.Storage;
using Holdfast.Testing;
using RabbitMQ.Client;
using HoldfastVirtualHost = Holdfast.Broker.VirtualHost;

namespace Holdfast.Conformance.Tests.Semantics.Restart;

/// <summary>
/// A durable broker on a fresh directory, one connection and one confirming setup channel; <see cref="RestartAsync"/>
/// stops the broker cleanly (connections closed by the broker), starts it on the same data and reconnects.
/// </summary>
internal sealed class RestartScope : IAsyncDisposable
{
    private readonly TempDirectory _directory;

    private RestartScope(TempDirectory directory, DurableBroker broker)
    {
        _directory = directory;
        Broker = broker;
    }

    public DurableBroker Broker { get; }

    public IConnection Connection { get; private set; } = null!;

    /// <summary>A confirming channel for declarations, publishes and basic.get.</summary>
    public IChannel Setup { get; private set; } = null!;

    /// <summary>The "/" virtual host of the broker now running.</summary>
    public HoldfastVirtualHost VirtualHost => Broker.Server.Broker.GetVirtualHost("/");

    public static async Task<RestartScope> StartAsync()
    {
        var directory = new TempDirectory("holdfast-restart-semantics");
        var broker = await DurableBroker.StartAsync(new StoreOptions { Directory = directory.Path, SegmentSizeBytes = 1 << 20 });
        var scope = new RestartScope(directory, broker);
        await scope.ConnectAsync();
        return scope;
    }

    /// <summary>A clean broker restart on the same data; returns how long it took.</summary>
    public async Task<TimeSpan> RestartAsync()
    {
        var clock = Stopwatch.StartNew();
        await Broker.RestartAsync();
        await DropConnectionAsync();
        await ConnectAsync();
        return clock.Elapsed;
    }

    public async Task ExchangeAsync(string name, string type, IDictionary<string, object?>? arguments = null) =>
        await Setup.ExchangeDeclareAsync(name, type, durable: true, autoDelete: false, arguments: arguments);

    /// <summary>A durable, non-exclusive, non-auto-delete queue with these arguments (values as they go on the wire).</summary>
    public async Task QueueAsync(string name, params (string Key, object Value)[] arguments) =>
        await Setup.QueueDeclareAsync(name, durable: true, exclusive: false, autoDelete: false, arguments: SemanticsScope.Arguments(arguments));

    /// <summary>A persistent publish, confirmed.</summary>
    public Task PublishAsync(string exchange, string routingKey, string body, BasicProperties? properties = null)
    {
        properties ??= new BasicProperties();
        properties.Persistent = true;
        return Setup.PublishAsync(exchange, routingKey, body, properties: properties);
    }

    public Task<uint> ReadyAsync(string queue) => Connection.ReadyCountAsync(queue);

    public Task<bool> QueueExistsAsync(string queue) => Connection.QueueExistsAsync(queue);

    /// <summary>A consumer on its own channel.</summary>
    public async Task<(ProbeConsumer Consumer, string Tag)> ConsumeAsync(string queue, bool autoAck = false, ushort prefetch = 0)
    {
        var channel = await Connection.CreateChannelAsync();
        if (prefetch > 0)
        {
            await channel.BasicQosAsync(0, prefetch, global: false);
        }

        var consumer = new ProbeConsumer(channel);
        var tag = await channel.BasicConsumeAsync(queue, autoAck, consumer);
        return (consumer, tag);
    }

    /// <summary>basic.get (auto-ack) every 100 ms until a message comes or <paramref name="within"/> has passed.</summary>
    public async Task<BasicGetResult?> PollGetAsync(string queue, TimeSpan within)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            if (await Setup.BasicGetAsync(queue, autoAck: true) is { } got)
            {
                return got;
            }

            if (clock.Elapsed > within)
            {
                return null;
            }

            await Task.Delay(100);
        }
    }

    public static Task DelayUntilAsync(Stopwatch clock, long milliseconds)
    {
        var left = milliseconds - clock.ElapsedMilliseconds;
        return left > 0 ? Task.Delay(TimeSpan.FromMilliseconds(left)) : Task.CompletedTask;
    }

    /// <summary>The x-delivery-count header (null when absent), which must be a long.</summary>
    public static long? DeliveryCount(IReadOnlyBasicProperties properties)
    {
        if (properties.Headers is not { } headers || !headers.TryGetValue("x-delivery-count", out var value))
        {
            return null;
        }

        return Assert.IsType<long>(value);
    }

    private async Task ConnectAsync()
    {
        Connection = await Broker.Factory().CreateConnectionAsync();
        Setup = await Connection.CreateConfirmingChannelAsync();
    }

    private async Task DropConnectionAsync()
    {
        try
        {
            await Connection.DisposeAsync();
        }
#pragma warning disable CA1031 // The broker already closed it; whatever disposing the dead connection says is irrelevant.
        catch (Exception)
#pragma warning restore CA1031
        {
        }
    }

    public async ValueTask DisposeAsync()
    {
        await DropConnectionAsync();
        await Broker.DisposeAsync();
        _directory.Dispose();
    }
}
