using System.Diagnostics;

namespace Holdfast.LoadTool.Amqp;

/// <summary>
/// The AMQP scenarios, each one run on one broker: declare a fresh uniquely named queue, connect the producers
/// and consumers (one connection each; connecting is never timed), warm up, measure, stop, delete the queue.
/// idle-connections declares no queue: it opens connections, leaves them idle and counts the survivors.
/// </summary>
internal static class AmqpScenarios
{
    public static IReadOnlyList<string> Names { get; } = ["publish-confirm", "consume-ack", "roundtrip", "publish-noconfirm", "idle-connections"];

    public static string Name(AmqpScenario scenario) => scenario switch
    {
        AmqpScenario.PublishConfirm => "publish-confirm",
        AmqpScenario.ConsumeAck => "consume-ack",
        AmqpScenario.Roundtrip => "roundtrip",
        AmqpScenario.PublishNoConfirm => "publish-noconfirm",
        AmqpScenario.IdleConnections => "idle-connections",
        _ => throw new ArgumentOutOfRangeException(nameof(scenario)),
    };

    public static AmqpScenario Parse(string name) => name switch
    {
        "publish-confirm" => AmqpScenario.PublishConfirm,
        "consume-ack" => AmqpScenario.ConsumeAck,
        "roundtrip" => AmqpScenario.Roundtrip,
        "publish-noconfirm" => AmqpScenario.PublishNoConfirm,
        "idle-connections" => AmqpScenario.IdleConnections,
        _ => throw new ArgumentException($"Unknown scenario '{name}': use one of {string.Join(", ", Names)}.", nameof(name)),
    };

    /// <summary>Runs <paramref name="scenario"/> once on <paramref name="target"/>.</summary>
    public static Task<AmqpResult> RunAsync(AmqpScenario scenario, AmqpTarget target, AmqpLoadOptions options, int run, string? label, CancellationToken cancellation)
    {
        ArgumentNullException.ThrowIfNull(target);
        ArgumentNullException.ThrowIfNull(options);
        var problem = options.Problem(scenario);
        if (problem is not null)
        {
            throw new ArgumentException(problem, nameof(options));
        }

        var info = new RunInfo(scenario, target, options, run, label);
        return scenario switch
        {
            AmqpScenario.PublishConfirm => PublishConfirmAsync(info, cancellation),
            AmqpScenario.ConsumeAck => ConsumeAckAsync(info, cancellation),
            AmqpScenario.Roundtrip => RoundtripAsync(info, cancellation),
            AmqpScenario.PublishNoConfirm => PublishNoConfirmAsync(info, cancellation),
            AmqpScenario.IdleConnections => IdleConnectionsAsync(info, cancellation),
            _ => throw new ArgumentOutOfRangeException(nameof(scenario)),
        };
    }

    private static async Task<AmqpResult> PublishConfirmAsync(RunInfo info, CancellationToken cancellation)
    {
        var (target, options) = (info.Target, info.Options);
        var queue = await target.DeclareQueueAsync(info.Scenario, durable: true, options.QueueType, cancellation).ConfigureAwait(false);
        var window = new RunWindow();
        var publishers = new List<ConfirmingPublisher>();
        var running = Task.CompletedTask;
        try
        {
            for (var i = 0; i < options.Producers; i++)
            {
                publishers.Add(await ConfirmingPublisher.CreateAsync(target, queue, options, window, i, long.MaxValue, timestamped: false, cancellation).ConfigureAwait(false));
            }

            running = Task.WhenAll(publishers.Select(p => Task.Run(() => p.RunAsync(cancellation), cancellation)));
            await WaitUntilAsync(Stopwatch.GetTimestamp() + Ticks(options.Warmup), running, cancellation).ConfigureAwait(false);
            var before = Mark.Take(options.BrokerPid);
            window.Open(before.Client.Timestamp, options.Duration);
            await WaitUntilAsync(window.End, running, cancellation).ConfigureAwait(false);
            var after = Mark.Take(options.BrokerPid);
            window.Stop();
            await running.ConfigureAwait(false);

            var (latency, confirmed, nacked, published, perFrame) = Totals(publishers);
            var seconds = options.Duration.TotalSeconds;
            return info.Result(queue, durable: true, seconds, "confirmed", confirmed / seconds, before, after) with
            {
                Consumers = 0,
                Prefetch = 0,
                AckEvery = 0,
                Published = published,
                Confirmed = confirmed,
                Nacked = nacked,
                MsgsPerAckFrame = perFrame,
                ConfirmLatencyUs = latency.Summarize(),
                ConfirmedPer100ms = Timeline.Sum(publishers.Select(p => p.Timeline)),
            };
        }
        finally
        {
            window.Stop();
            await SettleAsync(running).ConfigureAwait(false);
            foreach (var publisher in publishers)
            {
                await publisher.DisposeAsync().ConfigureAwait(false);
            }

            await target.DeleteQueueAsync(queue).ConfigureAwait(false);
        }
    }

    private static async Task<AmqpResult> ConsumeAckAsync(RunInfo info, CancellationToken cancellation)
    {
        var (target, options) = (info.Target, info.Options);
        var queue = await target.DeclareQueueAsync(info.Scenario, durable: true, options.QueueType, cancellation).ConfigureAwait(false);
        var consumers = new List<AckingConsumer>();
        try
        {
            var prefillPerS = await PrefillAsync(info, queue, cancellation).ConfigureAwait(false);
            var prefilledRss = BrokerMemory.ReadRssMiB(options.BrokerPid);
            var (depth, _) = await target.DepthAsync(queue, cancellation).ConfigureAwait(false);
            if (depth < options.Messages)
            {
                throw new InvalidOperationException($"Pre-filled and confirmed {options.Messages} messages but the queue holds {depth}.");
            }

            var window = new RunWindow();
            var drain = new DrainTarget(options.Messages);
            for (var i = 0; i < options.Consumers; i++)
            {
                consumers.Add(await AckingConsumer.CreateAsync(target, options, window, i, timestamped: false, drain, cancellation).ConfigureAwait(false));
            }

            var before = Mark.Take(options.BrokerPid);
            window.Open(before.Client.Timestamp, options.Timeout);
            foreach (var consumer in consumers)
            {
                await consumer.StartAsync(queue, cancellation).ConfigureAwait(false);
            }

            try
            {
                await drain.Done.WaitAsync(options.Timeout, cancellation).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                throw new TimeoutException($"consume-ack: {drain.Remaining} of {options.Messages} messages not delivered after {options.Timeout.TotalSeconds:0} s.");
            }

            foreach (var consumer in consumers)
            {
                await consumer.FlushAsync(cancellation).ConfigureAwait(false);
            }

            var end = Math.Max(drain.EndTimestamp, Stopwatch.GetTimestamp());
            var after = Mark.Take(options.BrokerPid);
            var seconds = Stopwatch.GetElapsedTime(before.Client.Timestamp, end).TotalSeconds;
            var consumed = consumers.Sum(c => c.ConsumedTotal);
            return info.Result(queue, durable: true, Math.Round(seconds, 3), "consumed", options.Messages / seconds, before, after) with
            {
                Producers = options.Producers,
                Rate = 0,
                Published = options.Messages,
                Consumed = consumed,
                PrefillPerS = Math.Round(prefillPerS),
                BrokerRssPrefilledMib = prefilledRss,
            };
        }
        finally
        {
            foreach (var consumer in consumers)
            {
                await consumer.DisposeAsync().ConfigureAwait(false);
            }

            await target.DeleteQueueAsync(queue).ConfigureAwait(false);
        }
    }

    /// <summary>consume-ack: publishes <c>--messages</c> persistent messages with confirms and returns the confirmed rate.</summary>
    private static async Task<double> PrefillAsync(RunInfo info, string queue, CancellationToken cancellation)
    {
        var (target, options) = (info.Target, info.Options);
        var window = new RunWindow(); // never opened: only the publishers' totals count
        var publishers = new List<ConfirmingPublisher>();
        var running = Task.CompletedTask;
        var fast = options with { Rate = 0 };
        try
        {
            for (var i = 0; i < options.Producers; i++)
            {
                var share = (options.Messages / options.Producers) + (i < options.Messages % options.Producers ? 1 : 0);
                publishers.Add(await ConfirmingPublisher.CreateAsync(target, queue, fast, window, i, share, timestamped: false, cancellation).ConfigureAwait(false));
            }

            var start = Stopwatch.GetTimestamp();
            running = Task.WhenAll(publishers.Select(p => Task.Run(() => p.RunAsync(cancellation), cancellation)));
            await running.WaitAsync(options.Timeout, cancellation).ConfigureAwait(false);
            var confirmed = publishers.Sum(p => p.ConfirmedTotal);
            var nacked = publishers.Sum(p => p.NackedTotal);
            if (confirmed != options.Messages)
            {
                throw new InvalidOperationException($"Pre-fill: {confirmed} of {options.Messages} messages confirmed, {nacked} nacked.");
            }

            return confirmed / Stopwatch.GetElapsedTime(start).TotalSeconds;
        }
        finally
        {
            window.Stop();
            await SettleAsync(running).ConfigureAwait(false);
            foreach (var publisher in publishers)
            {
                await publisher.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    private static async Task<AmqpResult> RoundtripAsync(RunInfo info, CancellationToken cancellation)
    {
        var (target, options) = (info.Target, info.Options);
        var queue = await target.DeclareQueueAsync(info.Scenario, durable: true, options.QueueType, cancellation).ConfigureAwait(false);
        var window = new RunWindow();
        var consumers = new List<AckingConsumer>();
        var publishers = new List<ConfirmingPublisher>();
        var running = Task.CompletedTask;
        try
        {
            for (var i = 0; i < options.Consumers; i++)
            {
                var consumer = await AckingConsumer.CreateAsync(target, options, window, i, timestamped: true, drain: null, cancellation).ConfigureAwait(false);
                consumers.Add(consumer);
                await consumer.StartAsync(queue, cancellation).ConfigureAwait(false);
            }

            for (var i = 0; i < options.Producers; i++)
            {
                publishers.Add(await ConfirmingPublisher.CreateAsync(target, queue, options, window, i, long.MaxValue, timestamped: true, cancellation).ConfigureAwait(false));
            }

            running = Task.WhenAll(publishers.Select(p => Task.Run(() => p.RunAsync(cancellation), cancellation)));
            await WaitUntilAsync(Stopwatch.GetTimestamp() + Ticks(options.Warmup), running, cancellation).ConfigureAwait(false);
            var before = Mark.Take(options.BrokerPid);
            window.Open(before.Client.Timestamp, options.Duration);
            var depths = options.Timeline ? await SampleDepthAsync(target, queue, window.End, running, cancellation).ConfigureAwait(false) : null;
            await WaitUntilAsync(window.End, running, cancellation).ConfigureAwait(false);
            var after = Mark.Take(options.BrokerPid);
            var (depth, _) = await target.DepthAsync(queue, cancellation).ConfigureAwait(false);
            window.Stop();
            await running.ConfigureAwait(false);

            var (confirmLatency, confirmed, nacked, published, perFrame) = Totals(publishers);
            var endToEnd = new LatencyHistogram();
            foreach (var consumer in consumers)
            {
                endToEnd.Add(consumer.Latency);
            }

            var consumed = consumers.Sum(c => c.Consumed);
            var seconds = options.Duration.TotalSeconds;
            return info.Result(queue, durable: true, seconds, "consumed", consumed / seconds, before, after) with
            {
                Published = published,
                Confirmed = confirmed,
                Nacked = nacked,
                Consumed = consumed,
                MsgsPerAckFrame = perFrame,
                ConfirmLatencyUs = confirmLatency.Summarize(),
                EndToEndLatencyUs = endToEnd.Summarize(),
                ConfirmedPer100ms = Timeline.Sum(publishers.Select(p => p.Timeline)),
                QueueDepthEnd = depth,
                QueueDepthPer100ms = depths,
            };
        }
        finally
        {
            window.Stop();
            await SettleAsync(running).ConfigureAwait(false);
            foreach (var publisher in publishers)
            {
                await publisher.DisposeAsync().ConfigureAwait(false);
            }

            foreach (var consumer in consumers)
            {
                await consumer.DisposeAsync().ConfigureAwait(false);
            }

            await target.DeleteQueueAsync(queue).ConfigureAwait(false);
        }
    }

    /// <summary>The queue's depth every <see cref="Timeline.Step"/> until <paramref name="end"/> (or the load stops).</summary>
    private static async Task<long[]> SampleDepthAsync(AmqpTarget target, string queue, long end, Task running, CancellationToken cancellation)
    {
        var depths = new List<long>();
        var next = Stopwatch.GetTimestamp();
        while (next < end && !running.IsCompleted)
        {
            depths.Add((await target.DepthAsync(queue, cancellation).ConfigureAwait(false)).Depth);
            next += Ticks(Timeline.Step);
            var wait = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), next);
            if (wait > TimeSpan.Zero)
            {
                await Task.Delay(wait, cancellation).ConfigureAwait(false);
            }
        }

        return [.. depths];
    }

    private static async Task<AmqpResult> PublishNoConfirmAsync(RunInfo info, CancellationToken cancellation)
    {
        var (target, options) = (info.Target, info.Options);
        // Transient messages to a non-durable (hence classic) queue: a quorum queue is always durable.
        var queue = await target.DeclareQueueAsync(info.Scenario, durable: false, "classic", cancellation).ConfigureAwait(false);
        var window = new RunWindow();
        var publishers = new List<NoConfirmPublisher>();
        var running = Task.CompletedTask;
        try
        {
            for (var i = 0; i < options.Producers; i++)
            {
                publishers.Add(await NoConfirmPublisher.CreateAsync(target, queue, options.Size, window, i, cancellation).ConfigureAwait(false));
            }

            running = Task.WhenAll(publishers.Select(p => Task.Run(() => p.RunAsync(cancellation), cancellation)));
            await WaitUntilAsync(Stopwatch.GetTimestamp() + Ticks(options.Warmup), running, cancellation).ConfigureAwait(false);
            var before = Mark.Take(options.BrokerPid);
            var (depthBefore, readBefore) = await target.DepthAsync(queue, cancellation).ConfigureAwait(false);
            window.Open(readBefore, options.Duration);
            await WaitUntilAsync(window.End, running, cancellation).ConfigureAwait(false);
            var (depthAfter, readAfter) = await target.DepthAsync(queue, cancellation).ConfigureAwait(false);
            var after = Mark.Take(options.BrokerPid);
            window.Stop();
            await running.ConfigureAwait(false);

            var elapsed = Stopwatch.GetElapsedTime(readBefore, readAfter).TotalSeconds;
            var sent = publishers.Sum(p => p.Sent);
            return info.Result(queue, durable: false, Math.Round(elapsed, 3), "broker_intake", (depthAfter - depthBefore) / elapsed, before, after) with
            {
                QueueType = "classic",
                Persistent = false,
                Consumers = 0,
                Prefetch = 0,
                AckEvery = 0,
                ConfirmWindow = 0,
                ConfirmMode = "none",
                Rate = 0,
                Published = publishers.Sum(p => p.Published),
                ClientSendPerS = Math.Round(sent / options.Duration.TotalSeconds),
                QueueDepthEnd = depthAfter,
            };
        }
        finally
        {
            window.Stop();
            await SettleAsync(running).ConfigureAwait(false);
            foreach (var publisher in publishers)
            {
                await publisher.DisposeAsync().ConfigureAwait(false);
            }

            await target.DeleteQueueAsync(queue).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Opens the connections (not timed into the window), leaves them idle for <see cref="AmqpLoadOptions.IdleDuration"/>
    /// with only heartbeats on the wire, then counts what is still open and reads the broker's CPU and memory before
    /// closing them all.
    /// </summary>
    private static async Task<AmqpResult> IdleConnectionsAsync(RunInfo info, CancellationToken cancellation)
    {
        var (target, options) = (info.Target, info.Options);
        var rssBefore = BrokerMemory.ReadRssMiB(options.BrokerPid);
        var opening = Stopwatch.GetTimestamp();
        var idle = await IdleConnections.OpenAsync(target.FactoryWithHeartbeat(options.Heartbeat), options.Connections, cancellation).ConfigureAwait(false);
        try
        {
            var openSeconds = Stopwatch.GetElapsedTime(opening).TotalSeconds;
            var before = Mark.Take(options.BrokerPid);
            await Task.Delay(options.IdleDuration, cancellation).ConfigureAwait(false);
            var after = Mark.Take(options.BrokerPid);
            var open = idle.OpenNow;
            var seconds = Stopwatch.GetElapsedTime(before.Client.Timestamp, after.Client.Timestamp).TotalSeconds;
            var result = info.Result(queue: string.Empty, durable: false, Math.Round(seconds, 3), "connections", open, before, after);
            return result with
            {
                QueueType = "none",
                Persistent = false,
                Producers = 0,
                Consumers = 0,
                Size = 0,
                ConfirmWindow = 0,
                ConfirmMode = "none",
                Prefetch = 0,
                AckEvery = 0,
                Rate = 0,
                MibPerS = 0,
                Connections = options.Connections,
                HeartbeatS = options.Heartbeat.TotalSeconds,
                HeartbeatNegotiatedS = idle.NegotiatedHeartbeatSeconds,
                OpenSeconds = Math.Round(openSeconds, 3),
                ConnectionsOpenAtEnd = open,
                ConnectionsLost = idle.Lost,
                ConnectionsLostReasons = idle.LostReasons,
                ChannelsOpenAtEnd = idle.ChannelsOpenNow,
                BrokerRssBeforeMib = rssBefore,
                BrokerRssPerConnectionKib = result.BrokerRssMib is { } end && rssBefore is { } start && open > 0 ? Math.Round((end - start) * 1024 / open, 1) : null,
            };
        }
        finally
        {
            await idle.CloseAllAsync().ConfigureAwait(false);
        }
    }

    private static (LatencyHistogram Latency, long Confirmed, long Nacked, long Published, double? PerAckFrame) Totals(List<ConfirmingPublisher> publishers)
    {
        var latency = new LatencyHistogram();
        long confirmed = 0, nacked = 0, published = 0, frames = 0, covered = 0;
        foreach (var publisher in publishers)
        {
            latency.Add(publisher.Latency);
            confirmed += publisher.Confirmed;
            nacked += publisher.Nacked;
            published += publisher.Published;
            frames += publisher.AckFrames;
            covered += publisher.AckFrameMessages;
        }

        return (latency, confirmed, nacked, published, frames == 0 ? null : Math.Round(covered / (double)frames, 2));
    }

    /// <summary>Waits until <paramref name="timestamp"/>, failing at once if the load stops (a producer's error) before then.</summary>
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Usage", "VSTHRD003:Avoid awaiting foreign Tasks", Justification = "The producers' tasks, started by the caller; a console tool has no context to deadlock on.")]
    private static async Task WaitUntilAsync(long timestamp, Task running, CancellationToken cancellation)
    {
        while (Stopwatch.GetTimestamp() < timestamp)
        {
            var left = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), timestamp);
            var delay = Task.Delay(left > TimeSpan.FromMilliseconds(1) ? left : TimeSpan.FromMilliseconds(1), cancellation);
            if (await Task.WhenAny(delay, running).ConfigureAwait(false) == running)
            {
                await running.ConfigureAwait(false);
                throw new InvalidOperationException("The producers stopped before the window ended.");
            }

            await delay.ConfigureAwait(false);
        }
    }

    /// <summary>After a failure, lets the load tasks end (their channels are about to close) without masking the failure.</summary>
    private static async Task SettleAsync(Task running)
    {
        try
        {
            await running.WaitAsync(TimeSpan.FromSeconds(30)).ConfigureAwait(false);
        }
#pragma warning disable CA1031 // The run already failed or succeeded; this only waits for stragglers.
        catch (Exception)
#pragma warning restore CA1031
        {
        }
    }

    private static long Ticks(TimeSpan span) => (long)(span.TotalSeconds * Stopwatch.Frequency);

    /// <summary>Client and broker CPU at one end of the window.</summary>
    private readonly record struct Mark(ProcessSample Client, TimeSpan? Broker)
    {
        public static Mark Take(int? brokerPid) => new(ProcessSample.Take(), BrokerCpu.Read(brokerPid));
    }

    private sealed record RunInfo(AmqpScenario Scenario, AmqpTarget Target, AmqpLoadOptions Options, int Run, string? Label)
    {
        public AmqpResult Result(string queue, bool durable, double seconds, string metric, double msgsPerS, Mark before, Mark after) => new()
        {
            Scenario = Name(Scenario),
            Label = Label,
            Broker = Target.Label,
            Uri = Target.DisplayUri,
            Run = Run,
            Queue = queue,
            QueueType = Options.QueueType,
            Durable = durable,
            Persistent = true,
            Producers = Options.Producers,
            Consumers = Options.Consumers,
            Size = Options.Size,
            ConfirmWindow = Options.ConfirmWindow,
            ConfirmMode = Options.ConfirmMode.ToString().ToLowerInvariant(),
            Prefetch = Options.Prefetch,
            AckEvery = Options.AckEvery,
            Rate = Options.Rate,
            Seconds = seconds,
            Metric = metric,
            MsgsPerS = Math.Round(msgsPerS),
            MibPerS = Math.Round(msgsPerS * Options.Size / (1024.0 * 1024.0), 1),
            ClientCpuPercent = after.Client.CpuPercentSince(before.Client),
            BrokerCpuPercent = BrokerCpu.Percent(before.Broker, after.Broker, Stopwatch.GetElapsedTime(before.Client.Timestamp, after.Client.Timestamp)),
            BrokerRssMib = BrokerMemory.ReadRssMiB(Options.BrokerPid),
        };
    }
}
