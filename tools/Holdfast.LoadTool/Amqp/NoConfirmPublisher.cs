using RabbitMQ.Client;

namespace Holdfast.LoadTool.Amqp;

/// <summary>
/// publish-noconfirm: one producer on its own connection, no confirms, transient messages, as fast as the client and
/// TCP let it. What it sends is only the client's view; the broker's intake is read off the queue depth.
/// </summary>
internal sealed class NoConfirmPublisher : IAsyncDisposable
{
    private readonly IConnection _connection;
    private readonly IChannel _channel;
    private readonly CachedString _exchange = new(string.Empty);
    private readonly CachedString _routingKey;
    private readonly BasicProperties _properties = new() { DeliveryMode = DeliveryModes.Transient };
    private readonly RunWindow _window;
    private readonly byte[] _body;

    private NoConfirmPublisher(IConnection connection, IChannel channel, string queue, int size, RunWindow window, int id)
    {
        _connection = connection;
        _channel = channel;
        _routingKey = new CachedString(queue);
        _window = window;
        _body = new byte[size];
        new Random(id + 1).NextBytes(_body);
    }

    public long Published { get; private set; }

    /// <summary>Publishes handed to the client inside the window.</summary>
    public long Sent { get; private set; }

    public static async Task<NoConfirmPublisher> CreateAsync(AmqpTarget target, string queue, int size, RunWindow window, int id, CancellationToken cancellation)
    {
        ArgumentNullException.ThrowIfNull(target);
        var connection = await target.OpenConnectionAsync($"producer {id}", cancellation).ConfigureAwait(false);
        try
        {
            var channel = await connection.CreateChannelAsync(cancellationToken: cancellation).ConfigureAwait(false);
            return new NoConfirmPublisher(connection, channel, queue, size, window, id);
        }
        catch
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    public async Task RunAsync(CancellationToken cancellation)
    {
        while (!_window.Stopping)
        {
            await _channel.BasicPublishAsync(_exchange, _routingKey, mandatory: false, _properties, _body, cancellation).ConfigureAwait(false);
            Published++;
            if (_window.Finished(System.Diagnostics.Stopwatch.GetTimestamp()))
            {
                Sent++;
            }
        }
    }

    public ValueTask DisposeAsync() => new(AmqpClose.QuietlyAsync(_channel, _connection));
}
