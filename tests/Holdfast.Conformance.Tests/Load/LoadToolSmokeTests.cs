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
        var options = Small(broker) with { Rate = 2_000, Prefetch = 50 };

        var result = await RunAsync(broker, AmqpScenario.Roundtrip, options);

        Assert.Equal("consumed", result.Metric);
        Assert.True(result.Consumed > 0, $"nothing consumed: {Describe(result)}");
        Assert.True(result.Confirmed > 0);
        Assert.True(result.MsgsPerS > 0);
        Assert.NotNull(result.EndToEndLatencyUs);
        Assert.True(result.EndToEndLatencyUs.P50 > 0);
        Assert.NotNull(result.ConfirmLatencyUs);
        Assert.NotNull(result.QueueDepthEnd);
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
