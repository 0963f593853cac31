using System.Text.Json;
using Holdfast.Conformance.Tests.Broker;
using Holdfast.Conformance.Tests.Support;
using Holdfast.LoadTool.Amqp;

namespace Holdfast.Conformance.Tests.Load;

/// <summary>
/// The load tool's AMQP scenarios, each run for under a second with small numbers against the in-process broker:
/// messages must flow and every figure must be produced. Speeds are never asserted (this is a shared CI machine).
/// </summary>
public sealed class LoadToolSmokeTests
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(30);

    [Theory]
    [InlineData("manual")]
    [InlineData("tracked")]
    public async Task Publish_confirm_reports_confirmed_messages_and_confirm_latency(string mode)
    {
        await using var broker = await InProcessBroker.StartAsync();
        var options = Small(broker) with { Producers = 2, ConfirmMode = mode == "tracked" ? ConfirmMode.Tracked : ConfirmMode.Manual, Timeline = true };

        var result = await RunAsync(broker, AmqpScenario.PublishConfirm, options);

        Assert.Equal("publish-confirm", result.Scenario);
        Assert.Equal("confirmed", result.Metric);
        Assert.Equal(mode, result.ConfirmMode);
        Assert.True(result.Confirmed > 0, $"nothing confirmed: {Describe(result)}");
        Assert.True(result.Published >= result.Confirmed);
        Assert.Equal(0, result.Nacked);
        Assert.True(result.MsgsPerS > 0);
        Assert.True(result.MsgsPerAckFrame >= 1);
        Assert.NotNull(result.ConfirmLatencyUs);
        Assert.True(result.ConfirmLatencyUs.P50 > 0 && result.ConfirmLatencyUs.Max >= result.ConfirmLatencyUs.P99);
        Assert.Null(result.EndToEndLatencyUs);
        Assert.NotNull(result.ConfirmedPer100ms);
        Assert.Equal(result.Confirmed, result.ConfirmedPer100ms.Sum());
        await AssertQueueGoneAsync(broker, result.Queue);
    }

    [Fact]
    public async Task Consume_ack_drains_every_prefilled_message_acking_in_batches()
    {
        await using var broker = await InProcessBroker.StartAsync();
        var options = Small(broker) with { Messages = 2_000, Consumers = 2, Prefetch = 100, AckEvery = 10 };

        var result = await RunAsync(broker, AmqpScenario.ConsumeAck, options);

        Assert.Equal("consumed", result.Metric);
        Assert.Equal(2_000, result.Consumed);
        Assert.True(result.Seconds > 0);
        Assert.True(result.MsgsPerS > 0);
        Assert.True(result.PrefillPerS > 0);
        await AssertQueueGoneAsync(broker, result.Queue);
    }

    [Fact]
    public async Task Roundtrip_at_a_fixed_rate_reports_consumed_messages_and_end_to_end_latency()
    {
        await using var broker = await InProcessBroker.StartAsync();
        var options = Small(broker) with { Rate = 2_000, Prefetch = 50, Timeline = true };

        var result = await RunAsync(broker, AmqpScenario.Roundtrip, options);

        Assert.Equal("consumed", result.Metric);
        Assert.True(result.Consumed > 0, $"nothing consumed: {Describe(result)}");
        Assert.True(result.Confirmed > 0);
        Assert.True(result.MsgsPerS > 0);
        Assert.NotNull(result.EndToEndLatencyUs);
        Assert.True(result.EndToEndLatencyUs.P50 > 0);
        Assert.NotNull(result.ConfirmLatencyUs);
        Assert.NotNull(result.QueueDepthEnd);

        // --timeline: the depth sampled every 100 ms of the window, and written out under its name.
        Assert.NotNull(result.QueueDepthPer100ms);
        var samples = (int)Math.Ceiling(options.Duration / Timeline.Step);
        Assert.InRange(result.QueueDepthPer100ms.Length, 1, samples);
        Assert.Equal(result.QueueDepthPer100ms.Length, JsonDocument.Parse(Describe(result)).RootElement.GetProperty("queue_depth_per_100ms").GetArrayLength());
        await AssertQueueGoneAsync(broker, result.Queue);
    }

    [Fact]
    public async Task Publish_noconfirm_reads_the_brokers_intake_from_the_queue_depth()
    {
        await using var broker = await InProcessBroker.StartAsync();
        var options = Small(broker);

        var result = await RunAsync(broker, AmqpScenario.PublishNoConfirm, options);

        Assert.Equal("broker_intake", result.Metric);
        Assert.False(result.Durable);
        Assert.False(result.Persistent);
        Assert.True(result.QueueDepthEnd > 0, $"nothing arrived: {Describe(result)}");
        Assert.True(result.MsgsPerS > 0);
        Assert.True(result.ClientSendPerS > 0);
        await AssertQueueGoneAsync(broker, result.Queue);
    }

    [Fact]
    public async Task Idle_connections_stay_open_through_three_heartbeats_and_report_the_brokers_memory()
    {
        await using var broker = await InProcessBroker.StartAsync();
        // In process the broker is this process: its CPU and RSS are still figures to produce.
        var options = Small(broker) with { Connections = 50, Heartbeat = TimeSpan.FromSeconds(1), Duration = TimeSpan.FromSeconds(3), BrokerPid = BrokerPid(broker) };

        var result = await RunAsync(broker, AmqpScenario.IdleConnections, options);

        Assert.Equal("idle-connections", result.Scenario);
        Assert.Equal("connections", result.Metric);
        Assert.True(result.ConnectionsOpenAtEnd == 50, $"connections dropped: {Describe(result)}");
        Assert.Equal(0, result.ConnectionsLost);
        Assert.Null(result.ConnectionsLostReasons);
        Assert.Equal(50, result.ChannelsOpenAtEnd);
        Assert.Equal(50, result.MsgsPerS);
        Assert.Equal(1, result.HeartbeatNegotiatedS);
        // Held idle for the 3 s asked (a timer may fire a few milliseconds early by the stopwatch's clock).
        Assert.True(result.Seconds >= 2.9, $"held idle only {result.Seconds} s");
        Assert.True(result.OpenSeconds > 0);
        var line = JsonDocument.Parse(Describe(result)).RootElement;
        Assert.Equal(50, line.GetProperty("connections").GetInt32());
        Assert.Equal(50, line.GetProperty("connections_open_at_end").GetInt32());
        Assert.Equal(0, line.GetProperty("connections_lost").GetInt32());
        Assert.Equal(1, line.GetProperty("heartbeat_s").GetDouble());
        Assert.True(line.GetProperty("open_seconds").GetDouble() > 0);
        if (!broker.IsExternal)
        {
            Assert.True(line.GetProperty("broker_rss_mib").GetDouble() > 0);
            Assert.True(line.GetProperty("broker_rss_before_mib").GetDouble() > 0);
            Assert.Equal(JsonValueKind.Number, line.GetProperty("broker_cpu_percent").ValueKind);
        }

        await using var connection = await broker.Factory().CreateConnectionAsync();
        Assert.True(connection.IsOpen, "the broker should still take connections after the run closed its 50");
    }

    [Fact]
    public async Task Compare_runs_idle_connections_on_both_brokers_and_tabulates_the_survivors()
    {
        await using var broker = await InProcessBroker.StartAsync();
        var uri = Uri(broker);
        using var output = new StringWriter();
        using var error = new StringWriter();
        var parse = AmqpCommand.Create().Parse(
            ["compare", "idle-connections", "--uri", uri, "--uri", uri, "--connections", "20", "--heartbeat", "1", "--seconds", "3"]);

        var exit = await parse.InvokeAsync(new System.CommandLine.InvocationConfiguration { Output = output, Error = error }).WaitAsync(Limit);

        Assert.True(exit == 0, $"exit {exit}: {error}");
        var lines = output.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var runs = lines.Where(l => l.StartsWith('{')).Select(l => JsonDocument.Parse(l).RootElement).Where(e => e.TryGetProperty("run", out _)).ToArray();
        Assert.Equal(["A", "B"], runs.Select(r => r.GetProperty("label").GetString()));
        Assert.All(runs, r => Assert.Equal(20, r.GetProperty("connections_open_at_end").GetInt32()));
        Assert.Contains(lines, l => l.StartsWith("| idle-connections 20 × 1 channel, heartbeat 1 s, 3 s idle", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Compare_runs_both_brokers_alternately_and_prints_json_lines_and_a_table()
    {
        await using var broker = await InProcessBroker.StartAsync();
        var uri = Uri(broker);
        using var output = new StringWriter();
        using var error = new StringWriter();
        var parse = AmqpCommand.Create().Parse(
            ["compare", "publish-confirm", "--uri", uri, "--uri", uri, "--seconds", "0.3", "--warmup", "0.1", "--size", "16", "--confirm-window", "8", "--repeat", "2"]);

        var exit = await parse.InvokeAsync(new System.CommandLine.InvocationConfiguration { Output = output, Error = error }).WaitAsync(Limit);

        Assert.True(exit == 0, $"exit {exit}: {error}");
        var lines = output.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var runs = lines.Where(l => l.StartsWith('{')).Select(l => JsonDocument.Parse(l).RootElement).Where(e => e.TryGetProperty("run", out _)).ToArray();
        Assert.Equal(["A", "B", "A", "B"], runs.Select(r => r.GetProperty("label").GetString()));
        Assert.All(runs, r => Assert.True(r.GetProperty("confirmed").GetInt64() > 0));
        var compare = lines.Where(l => l.StartsWith('{')).Select(l => JsonDocument.Parse(l).RootElement)
            .Single(e => e.TryGetProperty("summary", out var kind) && kind.GetString() == "compare");
        Assert.True(compare.GetProperty("ratio_ab").GetDouble() > 0);
        Assert.Contains(lines, l => l.StartsWith("| scenario |", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("| publish-confirm 16 B", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Options_that_cannot_run_are_a_usage_error_before_anything_connects()
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        var parse = AmqpCommand.Create().Parse(["consume-ack", "--uri", "amqp://guest:guest@127.0.0.1:1/", "--prefetch", "5", "--ack-every", "10"]);

        var exit = await parse.InvokeAsync(new System.CommandLine.InvocationConfiguration { Output = output, Error = error }).WaitAsync(Limit);

        Assert.Equal(2, exit);
        Assert.Contains("--ack-every", error.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Idle_connections_refuse_a_window_shorter_than_three_heartbeats()
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        var parse = AmqpCommand.Create().Parse(["idle-connections", "--uri", "amqp://guest:guest@127.0.0.1:1/", "--heartbeat", "5", "--seconds", "10"]);

        var exit = await parse.InvokeAsync(new System.CommandLine.InvocationConfiguration { Output = output, Error = error }).WaitAsync(Limit);

        Assert.Equal(2, exit);
        Assert.Contains("3 × --heartbeat", error.ToString(), StringComparison.Ordinal);
        // Without --seconds the window stretches to three heartbeats instead.
        Assert.Equal(TimeSpan.FromSeconds(15), new AmqpLoadOptions { DurationDefaulted = true }.IdleDuration);
        Assert.Null(new AmqpLoadOptions { DurationDefaulted = true }.Problem(AmqpScenario.IdleConnections));
    }

    private static int? BrokerPid(InProcessBroker broker) => broker.IsExternal ? null : Environment.ProcessId;

    private static string Uri(InProcessBroker broker) => $"amqp://guest:guest@{broker.Host}:{broker.Port}/";

    private static AmqpLoadOptions Small(InProcessBroker broker) => new()
    {
        Uri = Uri(broker),
        Producers = 1,
        Consumers = 1,
        Size = 64,
        ConfirmWindow = 16,
        Duration = TimeSpan.FromSeconds(0.8),
        Warmup = TimeSpan.FromSeconds(0.1),
        Timeout = TimeSpan.FromSeconds(20),
    };

    private static async Task<AmqpResult> RunAsync(InProcessBroker broker, AmqpScenario scenario, AmqpLoadOptions options)
    {
        await using var target = await AmqpTarget.ConnectAsync(Uri(broker), CancellationToken.None);
        return await AmqpScenarios.RunAsync(scenario, target, options, run: 1, label: null, CancellationToken.None).WaitAsync(Limit);
    }

    private static async Task AssertQueueGoneAsync(InProcessBroker broker, string queue)
    {
        await using var connection = await broker.Factory().CreateConnectionAsync();
        Assert.False(await connection.QueueExistsAsync(queue), $"the run left its queue {queue} behind");
    }

    private static string Describe(AmqpResult result) => LoadTool.Json.Line(result);
}
