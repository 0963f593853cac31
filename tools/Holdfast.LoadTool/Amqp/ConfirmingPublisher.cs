using System.Buffers.Binary;
using System.Diagnostics;
using System.Runtime.CompilerServices;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;
using RabbitMQ.Client.Exceptions;

namespace Holdfast.LoadTool.Amqp;

/// <summary>
/// One producer on its own connection and confirm channel, keeping at most K publishes unconfirmed
/// (<see cref="ConfirmMode"/> says how), publishing persistent messages to the default exchange.
/// <para>
/// A confirm is timed from the moment the publish was issued (or, with <c>--rate</c>, from the moment the schedule
/// released it, so waiting for the window counts) to the moment the client handed the basic.ack to this code.
/// Confirms count towards throughput when they arrive inside the window, towards latency when the publish was also
/// issued inside it. With <c>timestamped</c>, the body starts with that timestamp for the consumers' end-to-end latency.
/// </para>
/// </summary>
internal sealed class ConfirmingPublisher : IAsyncDisposable
{
    private const int Pending = 0;
    private const int Done = 1;

    private readonly IConnection _connection;
    private readonly IChannel _channel;
    private readonly CachedString _exchange = new(string.Empty);
    private readonly CachedString _routingKey;
    private readonly BasicProperties _properties = new() { Persistent = true };
    private readonly RunWindow _window;
    private readonly Pacer _pacer;
    private readonly ConfirmMode _mode;
    private readonly int _capacity;
    private readonly long _limit;
    private readonly bool _timestamped;
    private readonly TimeSpan _timeout;
    private readonly int _id;

    // Manual mode: one body (the client has copied it once BasicPublishAsync returns), a ring of K start
    // timestamps and states indexed by sequence number, and the window's permits.
    // Tracked mode: one body per slot when timestamped (a slot's body is in use until its confirm).
    private readonly byte[][] _bodies;
    private readonly long[] _started;
    private readonly long[] _finished;
    private readonly bool[] _nacked;
    private readonly int[] _state;
    private readonly SemaphoreSlim _permits;
    private readonly Lock _gate = new();
    private ulong _lowestUnconfirmed = 1;

    private ConfirmingPublisher(IConnection connection, IChannel channel, string queue, AmqpLoadOptions options, RunWindow window, int id, long limit, bool timestamped)
    {
        _connection = connection;
        _channel = channel;
        _routingKey = new CachedString(queue);
        _window = window;
        _pacer = new Pacer(options.Rate / options.Producers);
        _mode = options.ConfirmMode;
        _capacity = options.ConfirmWindow;
        _limit = limit;
        _timestamped = timestamped;
        _timeout = options.Timeout;
        _id = id;
        _started = new long[_capacity];
        _finished = new long[_capacity];
        _nacked = new bool[_capacity];
        _state = new int[_capacity];
        _permits = new SemaphoreSlim(_capacity, _capacity);
        Timeline = options.Timeline ? new Timeline(window, options.Duration) : null;

        var bodies = _mode == ConfirmMode.Tracked && timestamped ? _capacity : 1;
        _bodies = new byte[bodies][];
        var random = new Random(id + 1);
        for (var i = 0; i < bodies; i++)
        {
            _bodies[i] = new byte[options.Size];
            random.NextBytes(_bodies[i]);
        }

        _channel.BasicAcksAsync += OnAckAsync;
        _channel.BasicNacksAsync += OnNackAsync;
    }

    public LatencyHistogram Latency { get; } = new();

    /// <summary>With <c>--timeline</c>: confirms per 100 ms of the window.</summary>
    public Timeline? Timeline { get; }

    /// <summary>basic.publish calls made (all of the run, warm-up included).</summary>
    public long Published { get; private set; }

    public long ConfirmedTotal { get; private set; }

    public long NackedTotal { get; private set; }

    /// <summary>Confirms (acks) that arrived inside the window.</summary>
    public long Confirmed { get; private set; }

    public long Nacked { get; private set; }

    /// <summary>basic.ack frames received inside the window, and the messages they confirmed: their ratio shows how confirms are batched.</summary>
    public long AckFrames { get; private set; }

    public long AckFrameMessages { get; private set; }

    public static async Task<ConfirmingPublisher> CreateAsync(
        AmqpTarget target, string queue, AmqpLoadOptions options, RunWindow window, int id, long limit, bool timestamped, CancellationToken cancellation)
    {
        ArgumentNullException.ThrowIfNull(target);
        ArgumentNullException.ThrowIfNull(options);
        var connection = await target.OpenConnectionAsync($"producer {id}", cancellation).ConfigureAwait(false);
        try
        {
            // No rate limiter: the window is ours (the client's default limiter would throttle from 64 outstanding).
            var channelOptions = new CreateChannelOptions(
                publisherConfirmationsEnabled: true,
                publisherConfirmationTrackingEnabled: options.ConfirmMode == ConfirmMode.Tracked,
                outstandingPublisherConfirmationsRateLimiter: null);
            var channel = await connection.CreateChannelAsync(channelOptions, cancellation).ConfigureAwait(false);
            return new ConfirmingPublisher(connection, channel, queue, options, window, id, limit, timestamped);
        }
        catch
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Publishes until the window stops (or the limit is reached), then waits for every outstanding confirm.</summary>
    public Task RunAsync(CancellationToken cancellation) =>
        _mode == ConfirmMode.Tracked ? RunTrackedAsync(cancellation) : RunManualAsync(cancellation);

    public async ValueTask DisposeAsync()
    {
        await AmqpClose.QuietlyAsync(_channel, _connection).ConfigureAwait(false);
        _permits.Dispose();
    }

    private bool ShouldStop => _window.Stopping || Published >= _limit;

    private async Task RunManualAsync(CancellationToken cancellation)
    {
        var body = _bodies[0];
        while (!ShouldStop)
        {
            var released = await _pacer.NextAsync(cancellation).ConfigureAwait(false);
            await _permits.WaitAsync(cancellation).ConfigureAwait(false);
            var start = _pacer.Enabled ? released : Stopwatch.GetTimestamp();
            var sequence = (ulong)(++Published);
            Volatile.Write(ref _started[(int)(sequence % (ulong)_capacity)], start);
            Stamp(body, start, sequence);
            await _channel.BasicPublishAsync(_exchange, _routingKey, mandatory: false, _properties, body, cancellation).ConfigureAwait(false);
        }

        // Every permit back means every publish is confirmed.
        for (var i = 0; i < _capacity; i++)
        {
            if (!await _permits.WaitAsync(_timeout, cancellation).ConfigureAwait(false))
            {
                throw new TimeoutException($"Producer {_id}: {_capacity - i} publishes still unconfirmed after {_timeout.TotalSeconds:0} s.");
            }
        }
    }

    private async Task RunTrackedAsync(CancellationToken cancellation)
    {
        var pending = new ValueTask[_capacity];
        var head = 0;
        var outstanding = 0;
        while (!ShouldStop)
        {
            var released = await _pacer.NextAsync(cancellation).ConfigureAwait(false);
            if (outstanding == _capacity)
            {
                await pending[head].ConfigureAwait(false);
                Collect(head);
                head = (head + 1) % _capacity;
                outstanding--;
            }

            var slot = (head + outstanding) % _capacity;
            _started[slot] = _pacer.Enabled ? released : Stopwatch.GetTimestamp();
            var body = _bodies[_bodies.Length == 1 ? 0 : slot];
            Stamp(body, _started[slot], (ulong)(Published + 1));
            Published++;
#pragma warning disable CA2012 // Kept in a ring so K can be outstanding; each slot is awaited exactly once below.
            pending[slot] = PublishTrackedAsync(slot, body, cancellation);
#pragma warning restore CA2012
            outstanding++;

            while (outstanding > 0 && pending[head].IsCompleted)
            {
                await pending[head].ConfigureAwait(false); // Already complete: surfaces a failure without suspending.
                Collect(head);
                head = (head + 1) % _capacity;
                outstanding--;
            }
        }

        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
        deadline.CancelAfter(_timeout);
        while (outstanding > 0)
        {
            try
            {
                await pending[head].AsTask().WaitAsync(deadline.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!cancellation.IsCancellationRequested)
            {
                throw new TimeoutException($"Producer {_id}: {outstanding} publishes still unconfirmed after {_timeout.TotalSeconds:0} s.");
            }

            Collect(head);
            head = (head + 1) % _capacity;
            outstanding--;
        }
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask PublishTrackedAsync(int slot, byte[] body, CancellationToken cancellation)
    {
        try
        {
            await _channel.BasicPublishAsync(_exchange, _routingKey, mandatory: false, _properties, body, cancellation).ConfigureAwait(false);
            _nacked[slot] = false;
        }
        catch (PublishException ex) when (!ex.IsReturn)
        {
            _nacked[slot] = true;
        }

        _finished[slot] = Stopwatch.GetTimestamp();
    }

    /// <summary>Tracked mode: accounts for the publish in <paramref name="slot"/>, which has completed.</summary>
    private void Collect(int slot)
    {
        var finished = _finished[slot];
        if (_nacked[slot])
        {
            NackedTotal++;
            Nacked += _window.Finished(finished) ? 1 : 0;
            return;
        }

        ConfirmedTotal++;
        if (_window.Finished(finished))
        {
            Confirmed++;
            Timeline?.Count(finished);
            if (_window.Within(_started[slot], finished))
            {
                Latency.Record(finished - _started[slot]);
            }
        }
    }

    private void Stamp(byte[] body, long timestamp, ulong sequence)
    {
        if (_timestamped)
        {
            BinaryPrimitives.WriteInt64LittleEndian(body, timestamp);
            BinaryPrimitives.WriteInt32LittleEndian(body.AsSpan(8), _id);
            BinaryPrimitives.WriteUInt32LittleEndian(body.AsSpan(12), (uint)sequence);
        }
    }

    private Task OnAckAsync(object sender, BasicAckEventArgs args)
    {
        OnConfirm(args.DeliveryTag, args.Multiple, nack: false);
        return Task.CompletedTask;
    }

    private Task OnNackAsync(object sender, BasicNackEventArgs args)
    {
        OnConfirm(args.DeliveryTag, args.Multiple, nack: true);
        return Task.CompletedTask;
    }

    private void OnConfirm(ulong tag, bool multiple, bool nack)
    {
        var now = Stopwatch.GetTimestamp();
        lock (_gate)
        {
            var inWindow = _window.Finished(now);
            if (_mode == ConfirmMode.Tracked)
            {
                // The client completes the publishes; here only the shape of the confirm stream is counted.
                if (inWindow && !nack)
                {
                    AckFrames++;
                    AckFrameMessages += multiple ? (long)(tag - Math.Min(tag, _lowestUnconfirmed) + 1) : 1;
                }

                _lowestUnconfirmed = Math.Max(_lowestUnconfirmed, tag + 1);
                return;
            }

            var covered = 0L;
            if (multiple)
            {
                for (var sequence = _lowestUnconfirmed; sequence <= tag; sequence++)
                {
                    covered += Complete(sequence, now, nack, inWindow);
                }
            }
            else if (tag >= _lowestUnconfirmed)
            {
                covered += Complete(tag, now, nack, inWindow);
            }

            if (inWindow && !nack)
            {
                AckFrames++;
                AckFrameMessages += covered;
            }

            // Permits go back in sequence order, so the ring never holds two publishes in one slot.
            var released = 0;
            while (_state[(int)(_lowestUnconfirmed % (ulong)_capacity)] == Done)
            {
                _state[(int)(_lowestUnconfirmed % (ulong)_capacity)] = Pending;
                _lowestUnconfirmed++;
                released++;
            }

            if (released > 0)
            {
                _permits.Release(released);
            }
        }
    }

    private int Complete(ulong sequence, long now, bool nack, bool inWindow)
    {
        var slot = (int)(sequence % (ulong)_capacity);
        if (_state[slot] == Done)
        {
            return 0;
        }

        _state[slot] = Done;
        if (nack)
        {
            NackedTotal++;
            Nacked += inWindow ? 1 : 0;
            return 1;
        }

        ConfirmedTotal++;
        if (inWindow)
        {
            Confirmed++;
            Timeline?.Count(now);
            var started = Volatile.Read(ref _started[slot]);
            if (_window.Within(started, now))
            {
                Latency.Record(now - started);
            }
        }

        return 1;
    }
}
