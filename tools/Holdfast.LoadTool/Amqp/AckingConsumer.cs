using System.Buffers.Binary;
using System.Diagnostics;
using RabbitMQ.Client;

namespace Holdfast.LoadTool.Amqp;

/// <summary>
/// One consumer on its own connection and channel: basic.qos prefetch, manual acks (every M-th delivery with
/// multiple=true when <c>--ack-every</c> is above 1). Deliveries handled inside the window count towards throughput;
/// with timestamped bodies, the time since the producer stamped the message is the end-to-end latency.
/// </summary>
internal sealed class AckingConsumer : AsyncDefaultBasicConsumer, IAsyncDisposable
{
    private readonly IConnection _connection;
    private readonly RunWindow _window;
    private readonly int _ackEvery;
    private readonly bool _timestamped;
    private readonly DrainTarget? _drain;
    private int _unacked;
    private ulong _lastTag;

    private AckingConsumer(IConnection connection, IChannel channel, RunWindow window, int ackEvery, bool timestamped, DrainTarget? drain)
        : base(channel)
    {
        _connection = connection;
        _window = window;
        _ackEvery = ackEvery;
        _timestamped = timestamped;
        _drain = drain;
    }

    public LatencyHistogram Latency { get; } = new();

    /// <summary>Deliveries handled inside the window.</summary>
    public long Consumed { get; private set; }

    public long ConsumedTotal { get; private set; }

    public static async Task<AckingConsumer> CreateAsync(
        AmqpTarget target, AmqpLoadOptions options, RunWindow window, int id, bool timestamped, DrainTarget? drain, CancellationToken cancellation)
    {
        ArgumentNullException.ThrowIfNull(target);
        ArgumentNullException.ThrowIfNull(options);
        var connection = await target.OpenConnectionAsync($"consumer {id}", cancellation).ConfigureAwait(false);
        try
        {
            var channel = await connection.CreateChannelAsync(cancellationToken: cancellation).ConfigureAwait(false);
            await channel.BasicQosAsync(0, (ushort)Math.Min(options.Prefetch, ushort.MaxValue), global: false, cancellation).ConfigureAwait(false);
            return new AckingConsumer(connection, channel, window, options.AckEvery, timestamped, drain);
        }
        catch
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    public Task<string> StartAsync(string queue, CancellationToken cancellation) =>
        Channel.BasicConsumeAsync(queue, autoAck: false, this, cancellation);

    public override async Task HandleBasicDeliverAsync(
        string consumerTag,
        ulong deliveryTag,
        bool redelivered,
        string exchange,
        string routingKey,
        IReadOnlyBasicProperties properties,
        ReadOnlyMemory<byte> body,
        CancellationToken cancellationToken = default)
    {
        var now = Stopwatch.GetTimestamp();
        ConsumedTotal++;
        if (_window.Finished(now))
        {
            Consumed++;
            if (_timestamped && body.Length >= sizeof(long))
            {
                var sent = BinaryPrimitives.ReadInt64LittleEndian(body.Span);
                if (_window.Within(sent, now))
                {
                    Latency.Record(now - sent);
                }
            }
        }

        _lastTag = deliveryTag;
        if (++_unacked >= _ackEvery)
        {
            _unacked = 0;
            await Channel.BasicAckAsync(deliveryTag, multiple: _ackEvery > 1, cancellationToken).ConfigureAwait(false);
        }

        // Last: once the drain has counted every delivery, every ack above has been sent.
        _drain?.Count();
    }

    /// <summary>Acks what an ack-every-M consumer still holds (call once deliveries have stopped).</summary>
    public async Task FlushAsync(CancellationToken cancellation)
    {
        if (_unacked > 0)
        {
            _unacked = 0;
            await Channel.BasicAckAsync(_lastTag, multiple: true, cancellation).ConfigureAwait(false);
        }
    }

    public ValueTask DisposeAsync() => new(AmqpClose.QuietlyAsync(Channel, _connection));
}

/// <summary>consume-ack: counts deliveries across all consumers down to zero and records when the last one was handled.</summary>
internal sealed class DrainTarget(long messages)
{
    private readonly TaskCompletionSource _done = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private long _remaining = messages;

#pragma warning disable VSTHRD003 // Our own promise, completed with RunContinuationsAsynchronously; this tool has no context to deadlock on.
    public Task Done => _done.Task;
#pragma warning restore VSTHRD003

    public long EndTimestamp { get; private set; }

    public long Remaining => Volatile.Read(ref _remaining);

    public void Count()
    {
        if (Interlocked.Decrement(ref _remaining) == 0)
        {
            EndTimestamp = Stopwatch.GetTimestamp();
            _done.TrySetResult();
        }
    }
}
