using System.Globalization;

namespace Holdfast.LoadTool.Amqp;

/// <summary>The AMQP scenarios the <c>amqp</c> verb runs.</summary>
internal enum AmqpScenario
{
    /// <summary>Persistent messages to a durable queue, confirms with K unconfirmed per producer; confirmed msgs/s and confirm latency.</summary>
    PublishConfirm,

    /// <summary>Pre-fill N persistent messages, then time consumers draining them with manual acks.</summary>
    ConsumeAck,

    /// <summary>Producers (persistent, confirms) and consumers (manual acks) at once; consumed msgs/s and end-to-end latency.</summary>
    Roundtrip,

    /// <summary>Transient messages to a non-durable queue without confirms; the broker's intake read off the queue depth.</summary>
    PublishNoConfirm,

    /// <summary>N connections with one channel each held idle with heartbeats on; how many survive and the broker's memory.</summary>
    IdleConnections,
}

/// <summary>How a producer keeps its K unconfirmed publishes.</summary>
internal enum ConfirmMode
{
    /// <summary>
    /// Confirm tracking off; the producer numbers its publishes, a semaphore of K permits is the window and the
    /// basic.ack/nack handler releases it (in sequence order) and times each confirm when it arrives.
    /// </summary>
    Manual,

    /// <summary>
    /// The client's own tracking (<c>publisherConfirmationTrackingEnabled</c>, no rate limiter): K
    /// <c>BasicPublishAsync</c> tasks in flight, each completing with its confirm. The client then adds an
    /// <c>x-dotnet-pub-seq-no</c> header to every message.
    /// </summary>
    Tracked,
}

/// <summary>What an <c>amqp</c> run was asked to do. One instance describes one run on one broker.</summary>
internal sealed record AmqpLoadOptions
{
    public const string DefaultUri = "amqp://guest:guest@127.0.0.1:5672/";

    public const int MinSize = 16;

    public const int MaxSize = 64 * 1024;

    public string Uri { get; init; } = DefaultUri;

    public int Producers { get; init; } = 1;

    public int Consumers { get; init; } = 1;

    /// <summary>Body bytes per message (16 B to 64 KiB; the first 16 carry the send timestamp and a sequence number).</summary>
    public int Size { get; init; } = 1024;

    /// <summary>Unconfirmed publishes each producer keeps outstanding.</summary>
    public int ConfirmWindow { get; init; } = 256;

    public ConfirmMode ConfirmMode { get; init; } = ConfirmMode.Manual;

    /// <summary>basic.qos prefetch count per consumer (0 = unlimited).</summary>
    public int Prefetch { get; init; } = 1000;

    /// <summary>Ack every M-th delivery with multiple=true (1 = ack each delivery on its own).</summary>
    public int AckEvery { get; init; } = 1;

    /// <summary><c>classic</c> or <c>quorum</c>, sent as <c>x-queue-type</c> on the durable queues.</summary>
    public string QueueType { get; init; } = "quorum";

    public TimeSpan Duration { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// True when <c>--seconds</c> was not given: idle-connections then holds its connections for three heartbeats
    /// if that is longer than <see cref="Duration"/>, instead of refusing the default.
    /// </summary>
    public bool DurationDefaulted { get; init; }

    public TimeSpan Warmup { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>Total publish rate across producers in msgs/s (0 = as fast as the confirm window allows).</summary>
    public double Rate { get; init; }

    /// <summary>consume-ack: messages pre-filled and then drained.</summary>
    public long Messages { get; init; } = 100_000;

    /// <summary>Longest a drain, a pre-fill or the final confirms of a run may take before the run fails.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>Report confirms per 100 ms of the window (<c>confirmed_per_100ms</c>).</summary>
    public bool Timeline { get; init; }

    /// <summary>idle-connections: connections opened, each with one channel.</summary>
    public int Connections { get; init; } = 1000;

    /// <summary>idle-connections: the heartbeat each connection requests (whole seconds, as AMQP carries it).</summary>
    public TimeSpan Heartbeat { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// idle-connections: how long the connections sit idle. The client declares a broker dead after about three
    /// silent heartbeat intervals, so a shorter wait could not tell a broker that stopped heartbeating from a live one.
    /// </summary>
    public TimeSpan IdleDuration => DurationDefaulted && Duration < 3 * Heartbeat ? 3 * Heartbeat : Duration;

    /// <summary>The broker's process id, when known: its CPU over the window is reported (Linux, from /proc).</summary>
    public int? BrokerPid { get; init; }

    /// <summary>Returns the reason these options cannot run <paramref name="scenario"/>, or null.</summary>
    public string? Problem(AmqpScenario scenario)
    {
        if (Size is < MinSize or > MaxSize)
        {
            return $"--size must be between {MinSize} and {MaxSize} bytes.";
        }

        if (QueueType is not ("classic" or "quorum"))
        {
            return "--queue-type must be classic or quorum.";
        }

        if (Producers < 1)
        {
            return "--producers must be at least 1.";
        }

        var needsConsumers = scenario is AmqpScenario.ConsumeAck or AmqpScenario.Roundtrip;
        if (needsConsumers && Consumers < 1)
        {
            return "--consumers must be at least 1.";
        }

        if (needsConsumers && Prefetch > 0 && AckEvery > Prefetch)
        {
            return "--ack-every must not exceed --prefetch, or the consumers would wait forever for deliveries to ack.";
        }

        if (scenario == AmqpScenario.IdleConnections && IdleProblem() is { } idle)
        {
            return idle;
        }

        return Rate < 0 ? "--rate must not be negative." : null;
    }

    private string? IdleProblem()
    {
        if (Connections < 1)
        {
            return "--connections must be at least 1.";
        }

        if (Heartbeat < TimeSpan.FromSeconds(1) || Heartbeat.TotalSeconds > ushort.MaxValue || Heartbeat.TotalSeconds % 1 != 0)
        {
            // 0 would turn heartbeats off, and keeping them is what idle-connections checks.
            return $"--heartbeat must be a whole number of seconds from 1 to {ushort.MaxValue}.";
        }

        return IdleDuration < 3 * Heartbeat
            ? string.Create(CultureInfo.InvariantCulture, $"idle-connections: --seconds ({IdleDuration.TotalSeconds:0.###}) must be at least 3 × --heartbeat = {3 * Heartbeat.TotalSeconds:0} s, or a broker that stopped heartbeating would go unnoticed (the client gives up on it after about three silent intervals).")
            : null;
    }
}
