using System.CommandLine;

namespace Holdfast.LoadTool.Amqp;

/// <summary>
/// <c>amqp &lt;scenario&gt;</c>: drives a broker (Holdfast or RabbitMQ) over AMQP 0-9-1 with RabbitMQ.Client and prints
/// one JSON line per run; <c>amqp compare --uri A --uri B &lt;scenario&gt;...</c> alternates two brokers and prints a table.
/// </summary>
internal static class AmqpCommand
{
    public static Command Create()
    {
        var command = new Command("amqp", "AMQP 0-9-1 load against a running broker (Holdfast or RabbitMQ), through RabbitMQ.Client.");
        command.Subcommands.Add(Scenario(AmqpScenario.PublishConfirm, "Persistent messages to a durable queue with publisher confirms, K unconfirmed per producer: confirmed msgs/s and confirm latency."));
        command.Subcommands.Add(Scenario(AmqpScenario.ConsumeAck, "Pre-fill --messages persistent messages, then time --consumers draining them with manual acks."));
        command.Subcommands.Add(Scenario(AmqpScenario.Roundtrip, "Producers (persistent, confirms) and consumers (manual acks) at once: consumed msgs/s and end-to-end latency."));
        command.Subcommands.Add(Scenario(AmqpScenario.PublishNoConfirm, "Transient messages to a non-durable queue, no confirms: the broker's intake rate, read from the queue depth."));
        command.Subcommands.Add(Scenario(AmqpScenario.IdleConnections, "Open --connections connections (one channel each, --heartbeat), hold them idle for --seconds, then count the survivors and read the broker's memory (--broker-pid)."));
        command.Subcommands.Add(Compare());
        return command;
    }

    private static Command Scenario(AmqpScenario scenario, string description)
    {
        var shared = new SharedOptions();
        var uri = new Option<string>("--uri") { Description = "Broker to drive.", DefaultValueFactory = _ => AmqpLoadOptions.DefaultUri };
        var pid = new Option<int?>("--broker-pid") { Description = "The broker's process id: its CPU over the window is reported (Linux)." };
        var command = new Command(AmqpScenarios.Name(scenario), description) { uri, pid };
        shared.AddTo(command);
        command.SetAction(async (parse, cancellation) =>
        {
            var options = shared.Bind(parse) with { Uri = parse.GetValue(uri)!, BrokerPid = parse.GetValue(pid) };
            if (await UsageErrorAsync(parse, options, [scenario]).ConfigureAwait(false))
            {
                return 2;
            }

            await AmqpRunner.RunAsync(scenario, options, parse.GetValue(shared.Repeat), parse.InvocationConfiguration.Output, cancellation).ConfigureAwait(false);
            return 0;
        });
        return command;
    }

    private static Command Compare()
    {
        var shared = new SharedOptions();
        var scenarios = new Argument<string[]>("scenario")
        {
            Description = "Scenarios to compare, in order: " + string.Join(", ", AmqpScenarios.Names) + ".",
            Arity = ArgumentArity.OneOrMore,
        }.AcceptOnlyFromAmong([.. AmqpScenarios.Names]);
        var uris = new Option<string[]>("--uri") { Description = "The two brokers, A then B (give --uri twice).", Required = true };
        var pids = new Option<int[]>("--broker-pid") { Description = "Their process ids, in the same order (optional; both or none)." };
        var command = new Command("compare", "Run scenarios on two brokers alternately (A, B, A, B, ... for --repeat rounds) and print a table of medians and A/B ratios plus the JSON lines.")
        {
            scenarios, uris, pids,
        };
        shared.AddTo(command);
        command.Validators.Add(result =>
        {
            if (result.GetValue(uris) is not { Length: 2 })
            {
                result.AddError("compare needs exactly two --uri options: A then B.");
            }

            if (result.GetValue(pids) is { Length: not (0 or 2) })
            {
                result.AddError("Give --broker-pid for both brokers (A then B) or for neither.");
            }
        });
        command.SetAction(async (parse, cancellation) =>
        {
            var options = shared.Bind(parse);
            var chosen = parse.GetValue(scenarios)!.Select(AmqpScenarios.Parse).ToArray();
            if (await UsageErrorAsync(parse, options, chosen).ConfigureAwait(false))
            {
                return 2;
            }

            var (uriA, uriB) = (parse.GetValue(uris)![0], parse.GetValue(uris)![1]);
            var pidValues = parse.GetValue(pids) ?? [];
            var a = new CompareTarget(uriA, pidValues.Length == 2 ? pidValues[0] : null);
            var b = new CompareTarget(uriB, pidValues.Length == 2 ? pidValues[1] : null);
            await AmqpRunner.CompareAsync(chosen, options, a, b, parse.GetValue(shared.Repeat), parse.InvocationConfiguration.Output, cancellation).ConfigureAwait(false);
            return 0;
        });
        return command;
    }

    /// <summary>Checks what the option parser cannot (ranges that depend on the scenario and on other options).</summary>
    private static async Task<bool> UsageErrorAsync(ParseResult parse, AmqpLoadOptions options, IEnumerable<AmqpScenario> scenarios)
    {
        foreach (var scenario in scenarios)
        {
            if (options.Problem(scenario) is { } problem)
            {
                await parse.InvocationConfiguration.Error.WriteLineAsync(problem).ConfigureAwait(false);
                return true;
            }
        }

        return false;
    }

    /// <summary>The options every scenario (and compare) takes; one set per command, as a symbol has one parent.</summary>
    private sealed class SharedOptions
    {
        public Option<int> Producers { get; } = new Option<int>("--producers") { Description = "Producer connections (consume-ack: for the pre-fill).", DefaultValueFactory = _ => 1 }.AtLeast(1);

        public Option<int> Consumers { get; } = new Option<int>("--consumers") { Description = "Consumer connections (consume-ack, roundtrip).", DefaultValueFactory = _ => 1 }.AtLeast(1);

        public Option<int> Size { get; } = new Option<int>("--size") { Description = "Body bytes per message, 16 to 65536.", DefaultValueFactory = _ => 1024 }.AtLeast(AmqpLoadOptions.MinSize);

        public Option<int> ConfirmWindow { get; } = new Option<int>("--confirm-window") { Description = "Unconfirmed publishes each producer keeps outstanding.", DefaultValueFactory = _ => 256 }.AtLeast(1);

        public Option<string> ConfirmMode { get; } = new Option<string>("--confirm-mode")
        {
            Description = "manual: confirm tracking off, a semaphore window released by the ack handler (default, faster with RabbitMQ.Client 7.2.2); tracked: the client's own tracking, K BasicPublishAsync tasks in flight.",
            DefaultValueFactory = _ => "manual",
        }.AcceptOnlyFromAmong("manual", "tracked");

        public Option<int> Prefetch { get; } = new Option<int>("--prefetch") { Description = "basic.qos prefetch count per consumer (0 = unlimited).", DefaultValueFactory = _ => 1000 }.AtLeast(0);

        public Option<int> AckEvery { get; } = new Option<int>("--ack-every") { Description = "Ack every M-th delivery with multiple=true (1 = each on its own).", DefaultValueFactory = _ => 1 }.AtLeast(1);

        public Option<string> QueueType { get; } = new Option<string>("--queue-type")
        {
            Description = "x-queue-type of the durable queue (Holdfast accepts and ignores it; publish-noconfirm always uses a non-durable classic queue).",
            DefaultValueFactory = _ => "quorum",
        }.AcceptOnlyFromAmong("classic", "quorum");

        public Option<double> Seconds { get; } = new Option<double>("--seconds")
        {
            Description = "Length of the measured window (idle-connections: how long the connections sit idle, at least 3 × --heartbeat; by default the longer of 10 s and 3 heartbeats).",
            DefaultValueFactory = _ => 10,
        }.AtLeast(0.1);

        public Option<double> Warmup { get; } = new Option<double>("--warmup") { Description = "Seconds of load before the window opens.", DefaultValueFactory = _ => 2 }.AtLeast(0);

        public Option<double> Rate { get; } = new Option<double>("--rate") { Description = "Fixed total publish rate in msgs/s for latency runs (0 = as fast as the window allows).", DefaultValueFactory = _ => 0 }.AtLeast(0);

        public Option<long> Messages { get; } = new Option<long>("--messages") { Description = "consume-ack: messages to pre-fill and drain.", DefaultValueFactory = _ => 100_000 }.AtLeast(1L);

        public Option<int> Repeat { get; } = new Option<int>("--repeat") { Description = "Runs per scenario (and broker); more than one adds a median/min/max summary line.", DefaultValueFactory = _ => 1 }.AtLeast(1);

        public Option<double> Timeout { get; } = new Option<double>("--timeout") { Description = "Seconds a pre-fill, drain or final confirm may take before the run fails.", DefaultValueFactory = _ => 300 }.AtLeast(1);

        public Option<int> Connections { get; } = new Option<int>("--connections")
        {
            Description = "idle-connections: connections to open, one channel each. Each takes a file descriptor here and one in the broker (see ulimit -n).",
            DefaultValueFactory = _ => 1000,
        }.AtLeast(1);

        public Option<int> Heartbeat { get; } = new Option<int>("--heartbeat") { Description = "idle-connections: heartbeat in seconds each connection requests.", DefaultValueFactory = _ => 5 }.AtLeast(1);

        public Option<bool> Timeline { get; } = new("--timeline") { Description = "Also print confirms per 100 ms of the window (confirmed_per_100ms), to see bursts and stalls, and for roundtrip the queue depth every 100 ms (queue_depth_per_100ms)." };

        public void AddTo(Command command)
        {
            foreach (var option in new Option[] { Producers, Consumers, Size, ConfirmWindow, ConfirmMode, Prefetch, AckEvery, QueueType, Seconds, Warmup, Rate, Messages, Repeat, Timeout, Timeline, Connections, Heartbeat })
            {
                command.Options.Add(option);
            }
        }

        public AmqpLoadOptions Bind(ParseResult result) => new()
        {
            Producers = result.GetValue(Producers),
            Consumers = result.GetValue(Consumers),
            Size = result.GetValue(Size),
            ConfirmWindow = result.GetValue(ConfirmWindow),
            ConfirmMode = result.GetValue(ConfirmMode) == "tracked" ? Amqp.ConfirmMode.Tracked : Amqp.ConfirmMode.Manual,
            Prefetch = result.GetValue(Prefetch),
            AckEvery = result.GetValue(AckEvery),
            QueueType = result.GetValue(QueueType)!,
            Duration = TimeSpan.FromSeconds(result.GetValue(Seconds)),
            DurationDefaulted = result.GetResult(Seconds) is null or { Implicit: true },
            Warmup = TimeSpan.FromSeconds(result.GetValue(Warmup)),
            Rate = result.GetValue(Rate),
            Messages = result.GetValue(Messages),
            Timeout = TimeSpan.FromSeconds(result.GetValue(Timeout)),
            Timeline = result.GetValue(Timeline),
            Connections = result.GetValue(Connections),
            Heartbeat = TimeSpan.FromSeconds(result.GetValue(Heartbeat)),
        };
    }
}
