using System.Diagnostics;
using System.Globalization;
using System.Text;
using RabbitMQ.Client;

namespace Holdfast.LoadTool.Amqp;

/// <summary>
/// One broker under test: the connection factory every producer and consumer uses (one connection each), and an
/// admin connection for declaring, sampling and deleting the run's queue.
/// </summary>
internal sealed class AmqpTarget : IAsyncDisposable
{
    private readonly IConnection _admin;
    private readonly IChannel _channel;

    private AmqpTarget(ConnectionFactory factory, IConnection admin, IChannel channel, string displayUri)
    {
        Factory = factory;
        _admin = admin;
        _channel = channel;
        DisplayUri = displayUri;
        Product = ServerProperty(admin, "product") ?? "unknown";
        Version = ServerProperty(admin, "version") ?? "?";
    }

    public ConnectionFactory Factory { get; }

    /// <summary>The URI without user or password, for the JSON line.</summary>
    public string DisplayUri { get; }

    public string Product { get; }

    public string Version { get; }

    /// <summary>"RabbitMQ 3.10.8", "Holdfast 1.0.0": from the server properties of connection.start.</summary>
    public string Label => $"{Product} {Version}";

    public static async Task<AmqpTarget> ConnectAsync(string uri, CancellationToken cancellation)
    {
        var parsed = new Uri(uri);
        var factory = new ConnectionFactory
        {
            Uri = parsed,
            AutomaticRecoveryEnabled = false,
            TopologyRecoveryEnabled = false,
            RequestedConnectionTimeout = TimeSpan.FromSeconds(10),
            // A queue.delete of a million messages can take a while on a loaded broker.
            ContinuationTimeout = TimeSpan.FromMinutes(2),
        };
        var admin = await factory.CreateConnectionAsync("holdfast-load admin", cancellation).ConfigureAwait(false);
        try
        {
            var channel = await admin.CreateChannelAsync(cancellationToken: cancellation).ConfigureAwait(false);
            var display = string.Create(CultureInfo.InvariantCulture, $"{parsed.Scheme}://{parsed.Host}:{factory.Port}{parsed.AbsolutePath}");
            return new AmqpTarget(factory, admin, channel, display);
        }
        catch
        {
            await admin.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    public Task<IConnection> OpenConnectionAsync(string role, CancellationToken cancellation) =>
        Factory.CreateConnectionAsync("holdfast-load " + role, cancellation);

    /// <summary>A factory for the same broker and credentials whose connections request <paramref name="heartbeat"/>.</summary>
    public ConnectionFactory FactoryWithHeartbeat(TimeSpan heartbeat) => new()
    {
        Uri = Factory.Uri,
        AutomaticRecoveryEnabled = false,
        TopologyRecoveryEnabled = false,
        RequestedConnectionTimeout = Factory.RequestedConnectionTimeout,
        ContinuationTimeout = Factory.ContinuationTimeout,
        RequestedHeartbeat = heartbeat,
    };

    /// <summary>
    /// A fresh queue with a unique name: durable with <c>x-queue-type</c> = <paramref name="queueType"/>, or
    /// non-durable with no type (a classic queue) when <paramref name="durable"/> is false.
    /// </summary>
    public async Task<string> DeclareQueueAsync(AmqpScenario scenario, bool durable, string queueType, CancellationToken cancellation)
    {
        var name = $"holdfast-load-{AmqpScenarios.Name(scenario)}-{Guid.NewGuid():N}";
        var arguments = durable ? new Dictionary<string, object?> { ["x-queue-type"] = queueType } : null;
        var ok = await _channel.QueueDeclareAsync(name, durable, exclusive: false, autoDelete: false, arguments, cancellationToken: cancellation).ConfigureAwait(false);
        return ok.QueueName;
    }

    /// <summary>Ready messages in <paramref name="queue"/> (passive declare) and the moment halfway through the round trip that read it.</summary>
    public async Task<(long Depth, long Timestamp)> DepthAsync(string queue, CancellationToken cancellation)
    {
        var before = Stopwatch.GetTimestamp();
        var ok = await _channel.QueueDeclarePassiveAsync(queue, cancellation).ConfigureAwait(false);
        var after = Stopwatch.GetTimestamp();
        return (ok.MessageCount, before + ((after - before) / 2));
    }

    public async Task DeleteQueueAsync(string queue)
    {
        // Not cancellable: a run that fails or is interrupted still removes its queue.
        await _channel.QueueDeleteAsync(queue, ifUnused: false, ifEmpty: false).ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await _channel.CloseAsync().ConfigureAwait(false);
            await _admin.CloseAsync().ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is RabbitMQ.Client.Exceptions.AlreadyClosedException or OperationCanceledException or IOException)
        {
            // Already gone (the broker closed it or stopped): nothing left to release but the objects.
        }

        await _channel.DisposeAsync().ConfigureAwait(false);
        await _admin.DisposeAsync().ConfigureAwait(false);
    }

    private static string? ServerProperty(IConnection connection, string key) =>
        connection.ServerProperties is { } properties && properties.TryGetValue(key, out var value) && value is byte[] bytes
            ? Encoding.UTF8.GetString(bytes)
            : null;
}
