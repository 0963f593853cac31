using System.Globalization;
using System.Text;

namespace Holdfast.LoadTool.Amqp;

/// <summary>
/// Runs scenarios <c>--repeat</c> times and prints one JSON line per run, then a summary line (median, min, max);
/// <c>compare</c> alternates two brokers run by run and ends with a table of medians and ratios.
/// </summary>
internal static class AmqpRunner
{
    public static async Task<IReadOnlyList<AmqpResult>> RunAsync(AmqpScenario scenario, AmqpLoadOptions options, int repeat, TextWriter output, CancellationToken cancellation)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(output);
        var target = await AmqpTarget.ConnectAsync(options.Uri, cancellation).ConfigureAwait(false);
        await using (target.ConfigureAwait(false))
        {
            var results = new List<AmqpResult>();
            for (var run = 1; run <= repeat; run++)
            {
                var result = await AmqpScenarios.RunAsync(scenario, target, options, run, label: null, cancellation).ConfigureAwait(false);
                results.Add(result);
                await output.WriteLineAsync(Json.Line(result).AsMemory(), cancellation).ConfigureAwait(false);
            }

            if (repeat > 1)
            {
                await output.WriteLineAsync(Json.Line(AmqpSummary.Of(results)).AsMemory(), cancellation).ConfigureAwait(false);
            }

            return results;
        }
    }

    /// <summary>
    /// For each scenario, <paramref name="repeat"/> rounds of one run on A then one on B, so both brokers see the
    /// same machine conditions as nearly as a shared machine allows; then the table.
    /// </summary>
    public static async Task<IReadOnlyList<CompareRow>> CompareAsync(
        IReadOnlyList<AmqpScenario> scenarios, AmqpLoadOptions options, CompareTarget a, CompareTarget b, int repeat, TextWriter output, CancellationToken cancellation)
    {
        ArgumentNullException.ThrowIfNull(scenarios);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        ArgumentNullException.ThrowIfNull(output);
        var targetA = await AmqpTarget.ConnectAsync(a.Uri, cancellation).ConfigureAwait(false);
        await using (targetA.ConfigureAwait(false))
        {
            var targetB = await AmqpTarget.ConnectAsync(b.Uri, cancellation).ConfigureAwait(false);
            await using (targetB.ConfigureAwait(false))
            {
                var optionsA = options with { Uri = a.Uri, BrokerPid = a.BrokerPid };
                var optionsB = options with { Uri = b.Uri, BrokerPid = b.BrokerPid };
                var rows = new List<CompareRow>();
                foreach (var scenario in scenarios)
                {
                    var runsA = new List<AmqpResult>();
                    var runsB = new List<AmqpResult>();
                    for (var run = 1; run <= repeat; run++)
                    {
                        foreach (var (target, runOptions, label, runs) in new[] { (targetA, optionsA, "A", runsA), (targetB, optionsB, "B", runsB) })
                        {
                            var result = await AmqpScenarios.RunAsync(scenario, target, runOptions, run, label, cancellation).ConfigureAwait(false);
                            runs.Add(result);
                            await output.WriteLineAsync(Json.Line(result).AsMemory(), cancellation).ConfigureAwait(false);
                        }
                    }

                    var row = new CompareRow(Describe(scenario, options), AmqpSummary.Of(runsA), AmqpSummary.Of(runsB));
                    rows.Add(row);
                    await output.WriteLineAsync(Json.Line(row.A).AsMemory(), cancellation).ConfigureAwait(false);
                    await output.WriteLineAsync(Json.Line(row.B).AsMemory(), cancellation).ConfigureAwait(false);
                    await output.WriteLineAsync(Json.Line(row.ToLine()).AsMemory(), cancellation).ConfigureAwait(false);
                }

                await output.WriteAsync(Table(rows).AsMemory(), cancellation).ConfigureAwait(false);
                return rows;
            }
        }
    }

    /// <summary>The scenario with the parameters that shape it, for the table's first column.</summary>
    public static string Describe(AmqpScenario scenario, AmqpLoadOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var size = options.Size % 1024 == 0 ? $"{options.Size / 1024} KiB" : $"{options.Size} B";
        var rate = options.Rate > 0 ? string.Create(CultureInfo.InvariantCulture, $", {options.Rate:0} msg/s") : string.Empty;
        var ack = options.AckEvery > 1 ? $", ack every {options.AckEvery}" : string.Empty;
        return scenario switch
        {
            AmqpScenario.PublishConfirm => $"publish-confirm {size}, {options.Producers} producer(s), window {options.ConfirmWindow}{rate}, {options.QueueType}",
            AmqpScenario.ConsumeAck => $"consume-ack {size}, {options.Messages} msgs, {options.Consumers} consumer(s), prefetch {options.Prefetch}{ack}, {options.QueueType}",
            AmqpScenario.Roundtrip => $"roundtrip {size}, {options.Producers}p/{options.Consumers}c, window {options.ConfirmWindow}, prefetch {options.Prefetch}{ack}{rate}, {options.QueueType}",
            AmqpScenario.PublishNoConfirm => $"publish-noconfirm {size}, {options.Producers} producer(s), transient, classic non-durable",
            AmqpScenario.IdleConnections => string.Create(CultureInfo.InvariantCulture,
                $"idle-connections {options.Connections} × 1 channel, heartbeat {options.Heartbeat.TotalSeconds:0} s, {options.IdleDuration.TotalSeconds:0.#} s idle (msgs/s = connections open at the end)"),
            _ => throw new ArgumentOutOfRangeException(nameof(scenario)),
        };
    }

    /// <summary>
    /// A Markdown table: medians of each broker's runs, the throughput ratio A/B, the headline latency's p50/p99/max
    /// medians, and the broker's resident memory at the end of the window (with <c>--broker-pid</c>).
    /// </summary>
    public static string Table(IReadOnlyList<CompareRow> rows)
    {
        ArgumentNullException.ThrowIfNull(rows);
        var text = new StringBuilder();
        if (rows.Count == 0)
        {
            return string.Empty;
        }

        var (a, b) = (rows[0].A.Broker, rows[0].B.Broker);
        text.AppendLine(CultureInfo.InvariantCulture, $"A = {a} ({rows[0].A.Uri}), B = {b} ({rows[0].B.Uri}); medians of {rows[0].A.Runs} run(s) each; latency in µs (confirm latency for publish-confirm, end-to-end for roundtrip)");
        text.AppendLine();
        text.AppendLine("| scenario | A msgs/s | B msgs/s | A/B | A p50 | B p50 | A p99 | B p99 | A max | B max | A RSS MiB | B RSS MiB |");
        text.AppendLine("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
        foreach (var row in rows)
        {
            text.AppendLine(CultureInfo.InvariantCulture,
                $"| {row.Scenario} | {Number(row.A.MsgsPerS.Median)} | {Number(row.B.MsgsPerS.Median)} | {Ratio(row.Ratio)} " +
                $"| {Number(row.A.LatencyP50Us?.Median)} | {Number(row.B.LatencyP50Us?.Median)} " +
                $"| {Number(row.A.LatencyP99Us?.Median)} | {Number(row.B.LatencyP99Us?.Median)} " +
                $"| {Number(row.A.LatencyMaxUs?.Median)} | {Number(row.B.LatencyMaxUs?.Median)} " +
                $"| {Number(row.A.BrokerRssMib?.Median)} | {Number(row.B.BrokerRssMib?.Median)} |");
        }

        return text.ToString();
    }

    private static string Number(double? value) => value is { } v ? v.ToString("#,0", CultureInfo.InvariantCulture) : "–";

    private static string Ratio(double? value) => value is { } v ? v.ToString("0.00", CultureInfo.InvariantCulture) + "×" : "–";
}

/// <summary>One broker of a <c>compare</c>: its URI and, optionally, its process id for the CPU column.</summary>
internal sealed record CompareTarget(string Uri, int? BrokerPid);

/// <summary>One line of the compare table: the two brokers' summaries of one scenario.</summary>
internal sealed record CompareRow(string Scenario, AmqpSummary A, AmqpSummary B)
{
    /// <summary>A's median throughput over B's, or null when B moved nothing.</summary>
    public double? Ratio => B.MsgsPerS.Median > 0 ? Math.Round(A.MsgsPerS.Median / B.MsgsPerS.Median, 2) : null;

    public CompareLine ToLine() => new()
    {
        Scenario = Scenario,
        Metric = A.Metric,
        ABroker = A.Broker,
        BBroker = B.Broker,
        AMsgsPerS = A.MsgsPerS.Median,
        BMsgsPerS = B.MsgsPerS.Median,
        RatioAB = Ratio,
        ALatencyP50Us = A.LatencyP50Us?.Median,
        BLatencyP50Us = B.LatencyP50Us?.Median,
        ALatencyP99Us = A.LatencyP99Us?.Median,
        BLatencyP99Us = B.LatencyP99Us?.Median,
        ALatencyMaxUs = A.LatencyMaxUs?.Median,
        BLatencyMaxUs = B.LatencyMaxUs?.Median,
    };
}

/// <summary>The JSON line after each compared scenario: the table's row.</summary>
internal sealed record CompareLine
{
    public string Summary { get; init; } = "compare";

    public required string Scenario { get; init; }

    public required string Metric { get; init; }

    public required string ABroker { get; init; }

    public required string BBroker { get; init; }

    public required double AMsgsPerS { get; init; }

    public required double BMsgsPerS { get; init; }

    public double? RatioAB { get; init; }

    public double? ALatencyP50Us { get; init; }

    public double? BLatencyP50Us { get; init; }

    public double? ALatencyP99Us { get; init; }

    public double? BLatencyP99Us { get; init; }

    public double? ALatencyMaxUs { get; init; }

    public double? BLatencyMaxUs { get; init; }
}
