using System.Text.Json.Serialization;

namespace Holdfast.LoadTool.Amqp;

/// <summary>The JSON line one <c>amqp</c> run prints (snake_case on the wire).</summary>
internal sealed record AmqpResult
{
    public required string Scenario { get; init; }

    /// <summary>compare: "A" or "B" (the first or second <c>--uri</c>); null for a single-broker run.</summary>
    public string? Label { get; init; }

    /// <summary>Product and version from connection.start, e.g. "RabbitMQ 3.10.8".</summary>
    public required string Broker { get; init; }

    /// <summary>The broker's URI without user or password.</summary>
    public required string Uri { get; init; }

    public required int Run { get; init; }

    /// <summary>The run's own queue (declared fresh, deleted at the end).</summary>
    public required string Queue { get; init; }

    public required string QueueType { get; init; }

    public required bool Durable { get; init; }

    public required bool Persistent { get; init; }

    public required int Producers { get; init; }

    public required int Consumers { get; init; }

    public required int Size { get; init; }

    public required int ConfirmWindow { get; init; }

    public required string ConfirmMode { get; init; }

    public required int Prefetch { get; init; }

    public required int AckEvery { get; init; }

    /// <summary>Offered publish rate (msgs/s, all producers); 0 = as fast as the confirm window allows.</summary>
    public required double Rate { get; init; }

    /// <summary>The measured window, or for consume-ack the drain time.</summary>
    public required double Seconds { get; init; }

    /// <summary>What <see cref="MsgsPerS"/> counts: confirmed, consumed, broker_intake, or connections (idle-connections).</summary>
    public required string Metric { get; init; }

    /// <summary>
    /// The scenario's headline rate: confirms received, deliveries handled, or messages the broker took in (queue
    /// depth); for idle-connections not a rate but the connections still open at the end, so compare and --repeat
    /// summarize it like the others.
    /// </summary>
    public required double MsgsPerS { get; init; }

    /// <summary><see cref="MsgsPerS"/> times the body size.</summary>
    public required double MibPerS { get; init; }

    public long? Published { get; init; }

    public long? Confirmed { get; init; }

    public long? Nacked { get; init; }

    public long? Consumed { get; init; }

    /// <summary>Messages per basic.ack frame inside the window: 1 means one ack per message, more means multiple=true batches.</summary>
    public double? MsgsPerAckFrame { get; init; }

    public LatencySummary? ConfirmLatencyUs { get; init; }

    public LatencySummary? EndToEndLatencyUs { get; init; }

    /// <summary>With <c>--timeline</c>: confirms received in each 100 ms of the window, all producers together.</summary>
    [JsonPropertyName("confirmed_per_100ms")]
    public long[]? ConfirmedPer100ms { get; init; }

    /// <summary>publish-noconfirm: the rate the client handed messages to its socket, for contrast with the broker's intake.</summary>
    public double? ClientSendPerS { get; init; }

    /// <summary>consume-ack: how fast the pre-fill was confirmed.</summary>
    public double? PrefillPerS { get; init; }

    /// <summary>Ready messages in the queue when the window closed (roundtrip: a growing backlog means consumers fell behind).</summary>
    public long? QueueDepthEnd { get; init; }

    /// <summary>roundtrip with --timeline: the queue's ready messages every 100 ms of the window, where end-to-end latency builds up.</summary>
    [JsonPropertyName("queue_depth_per_100ms")]
    public long[]? QueueDepthPer100ms { get; init; }

    /// <summary>idle-connections: connections asked for (each with one channel).</summary>
    public int? Connections { get; init; }

    /// <summary>idle-connections: the heartbeat each connection requested, in seconds.</summary>
    public double? HeartbeatS { get; init; }

    /// <summary>idle-connections: the heartbeat agreed in connection.tune-ok (0 would mean heartbeats off).</summary>
    public double? HeartbeatNegotiatedS { get; init; }

    /// <summary>idle-connections: how long opening them all took (not part of the window).</summary>
    public double? OpenSeconds { get; init; }

    /// <summary>idle-connections: connections still open when the idle window ended (IConnection.IsOpen).</summary>
    public int? ConnectionsOpenAtEnd { get; init; }

    /// <summary>idle-connections: connections whose shutdown was reported during the window.</summary>
    public int? ConnectionsLost { get; init; }

    /// <summary>idle-connections: why they were lost ("peer: ..." = the broker closed them, "library: ..." = the client gave up, e.g. on missed heartbeats), counted.</summary>
    public IReadOnlyDictionary<string, int>? ConnectionsLostReasons { get; init; }

    /// <summary>idle-connections: channels still open when the window ended.</summary>
    public int? ChannelsOpenAtEnd { get; init; }

    /// <summary>This process's CPU over the window (200 = both cores).</summary>
    public required double ClientCpuPercent { get; init; }

    /// <summary>The broker process's CPU over the window, with <c>--broker-pid</c>.</summary>
    public double? BrokerCpuPercent { get; init; }

    /// <summary>The broker process's resident memory when the window closed, with <c>--broker-pid</c>.</summary>
    public double? BrokerRssMib { get; init; }

    /// <summary>consume-ack: the broker's resident memory with the whole pre-fill queued, before the drain.</summary>
    public double? BrokerRssPrefilledMib { get; init; }

    /// <summary>idle-connections: the broker's resident memory before the connections were opened.</summary>
    public double? BrokerRssBeforeMib { get; init; }

    /// <summary>
    /// idle-connections: (RSS at the end − RSS before) / connections open at the end. Only meaningful on a broker
    /// that starts the run lean: one that kept the memory of an earlier run's connections shows about zero.
    /// </summary>
    public double? BrokerRssPerConnectionKib { get; init; }

    public double? HostLoadAverage { get; init; } = HostLoad.OneMinute();

    /// <summary>The latency that matters for the scenario: confirms for publish-confirm, end-to-end for roundtrip.</summary>
    public LatencySummary? HeadlineLatency() => EndToEndLatencyUs ?? ConfirmLatencyUs;
}

/// <summary>Median, min and max of one figure over the runs of a <c>--repeat</c>.</summary>
internal sealed record Spread(double Median, double Min, double Max)
{
    public static Spread? Of(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        if (sorted.Length == 0)
        {
            return null;
        }

        var middle = sorted.Length / 2;
        var median = sorted.Length % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
        return new Spread(Math.Round(median, 1), sorted[0], sorted[^1]);
    }
}

/// <summary>The line printed after the runs of one scenario on one broker: medians with min and max.</summary>
internal sealed record AmqpSummary
{
    public string Summary { get; init; } = "repeat";

    public required string Scenario { get; init; }

    public string? Label { get; init; }

    public required string Broker { get; init; }

    public required string Uri { get; init; }

    public required int Runs { get; init; }

    public required string Metric { get; init; }

    public required Spread MsgsPerS { get; init; }

    /// <summary>Of the headline latency (confirm or end-to-end), when the scenario has one.</summary>
    public Spread? LatencyP50Us { get; init; }

    public Spread? LatencyP99Us { get; init; }

    public Spread? LatencyMaxUs { get; init; }

    public Spread? BrokerCpuPercent { get; init; }

    public Spread? BrokerRssMib { get; init; }

    public Spread? HostLoadAverage { get; init; }

    public static AmqpSummary Of(IReadOnlyList<AmqpResult> runs)
    {
        ArgumentNullException.ThrowIfNull(runs);
        var first = runs[0];
        var latencies = runs.Select(r => r.HeadlineLatency()).OfType<LatencySummary>().ToArray();
        return new AmqpSummary
        {
            Scenario = first.Scenario,
            Label = first.Label,
            Broker = first.Broker,
            Uri = first.Uri,
            Runs = runs.Count,
            Metric = first.Metric,
            MsgsPerS = Spread.Of(runs.Select(r => r.MsgsPerS))!,
            LatencyP50Us = Spread.Of(latencies.Select(l => l.P50)),
            LatencyP99Us = Spread.Of(latencies.Select(l => l.P99)),
            LatencyMaxUs = Spread.Of(latencies.Select(l => l.Max)),
            BrokerCpuPercent = Spread.Of(runs.Select(r => r.BrokerCpuPercent).OfType<double>()),
            BrokerRssMib = Spread.Of(runs.Select(r => r.BrokerRssMib).OfType<double>()),
            HostLoadAverage = Spread.Of(runs.Select(r => r.HostLoadAverage).OfType<double>()),
        };
    }
}
