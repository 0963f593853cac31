using System.Collections;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using Holdfast.Conformance.Tests.Support;
using Holdfast.Testing;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;
using RabbitMQ.Client.Exceptions;
using Xunit.Abstractions;

namespace Holdfast.Conformance.Tests.Crash;

/// <summary>
/// SIGKILL of the real broker, <c>holdfast run</c>, in the middle of dead-lettering and of delayed
/// delivery (issue 5: "nothing lost, nothing duplicated beyond a redelivery marked redelivered").
/// Each cycle starts the broker on the same data directory, publishes persistent messages with
/// confirms while the broker expires and dead-letters (or holds and releases) them, and kills it at a
/// random moment. A final run restarts it, lets every expiry and delay run out, and drains.
/// </summary>
/// <remarks>
/// Both features move a message from one store index to another (the expired message from the source
/// queue, the held delayed message from its holding index) with one store record that writes the new
/// copy and acks the old one, and the new queue sees the message only once that record is written. So
/// a kill leaves every message in exactly one place: nothing lost, no duplicate at all (a copy a
/// consumer saw before the kill comes back marked redelivered). HOLDFAST_CRASH_SEED replays a plan;
/// HOLDFAST_DLX_CRASH_CYCLES sets the cycles.
/// </remarks>
public sealed class DeadLetterAndDelayCrashTests(ITestOutputHelper output) : IDisposable
{
    private const int DefaultCycles = 6;
    private const int Publishers = 2;
    private const int InFlightPerPublisher = 32;
    private const int SigKillExitCode = 137;
    private const int MinDelayMs = 100;
    private const int MaxDelayMs = 1500;
    private const int EarlyToleranceMs = 50;

    private const string SourceQueue = "dlx-crash-source";
    private const string DeadLetterExchange = "dlx-crash-dlx";
    private const string TargetQueue = "dlx-crash-target";
    private const string DelayQueue = "delay-crash-queue";
    private const string DelayRoutingKey = "delay-crash";

    private static readonly TimeSpan CycleTimeout = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan ExitTimeout = TimeSpan.FromSeconds(15);
    private static readonly TimeSpan SettleTimeout = TimeSpan.FromSeconds(15);
    private static readonly TimeSpan FinalTimeout = TimeSpan.FromSeconds(40);

    private readonly TempDirectory _dir = new("holdfast-dlx-delay-crash");
    private readonly CrashLedger _ledger = new();
    private readonly List<string> _brokerErrors = [];
    private int _kills;
    private readonly ConcurrentDictionary<int, long> _killedAt = new();

    private string DataDir => Path.Combine(_dir.Path, "data");

    public void Dispose() => _dir.Dispose();

    // ------------------------------------------------------------------ dead-lettering

    [Fact]
    public async Task Dead_lettering_loses_nothing_and_duplicates_at_most_once_per_kill_under_SIGKILL()
    {
        var (seed, cycles) = Plan("dead-lettering");
        var random = new Random(seed);
        var ttl = random.Next(50, 201);
        output.WriteLine($"source x-message-ttl {ttl} ms");
        var clock = Stopwatch.StartNew();
        var cycle = 0;
        try
        {
            for (; cycle < cycles; cycle++)
            {
                var killAfter = TimeSpan.FromMilliseconds(random.Next(150, 1500));
                await RunCycleAsync(cycle, killAfter, async (channel, first, ct) =>
                {
                    if (first)
                    {
                        await channel.ExchangeDeclareAsync(DeadLetterExchange, ExchangeType.Fanout, durable: true, autoDelete: false, cancellationToken: ct);
                        await channel.QueueDeclareAsync(TargetQueue, durable: true, exclusive: false, autoDelete: false, cancellationToken: ct);
                        await channel.QueueBindAsync(TargetQueue, DeadLetterExchange, string.Empty, cancellationToken: ct);
                        await channel.QueueDeclareAsync(SourceQueue, durable: true, exclusive: false, autoDelete: false, new Dictionary<string, object?>
                        {
                            ["x-message-ttl"] = ttl,
                            ["x-dead-letter-exchange"] = DeadLetterExchange,
                        }, cancellationToken: ct);
                    }

                    var source = (await channel.QueueDeclarePassiveAsync(SourceQueue, ct)).MessageCount;
                    var target = (await channel.QueueDeclarePassiveAsync(TargetQueue, ct)).MessageCount;
                    return $"source holds {source}, target {target}";
                }, id => (string.Empty, SourceQueue, new BasicProperties { Persistent = true, MessageId = id }), observe: null);
            }

            await FinalDeadLetterCheckAsync(cycles);
        }
        catch (Exception ex)
        {
            var where = cycle < cycles ? $"in cycle {cycle}" : "in the final run";
            throw new InvalidOperationException($"Dead-letter crash test failed {where} with seed {seed} (replay with HOLDFAST_CRASH_SEED={seed}): {ex.Message}", ex);
        }

        output.WriteLine($"{cycles} cycles and the final run took {clock.Elapsed.TotalSeconds:F1} s");
    }

    private async Task FinalDeadLetterCheckAsync(int cycles)
    {
        using var timeout = new CancellationTokenSource(FinalTimeout);
        var copies = new ConcurrentQueue<(string? Id, bool Redelivered, string Death, bool BodyOk)>();
        await using var broker = BrokerProcess.Start(DataDir);
        string summary;
        try
        {
            var port = await broker.WaitReadyAsync(timeout.Token);
            CheckRecovery(broker);
            var ready = Stopwatch.StartNew();
            await using (var connection = await Factory(port).CreateConnectionAsync("dlx-final", timeout.Token))
            await using (var channel = await connection.CreateChannelAsync(cancellationToken: timeout.Token))
            {
                // Everything left in the source expires on recovery or soon after and must move to the target.
                uint source;
                while ((source = (await channel.QueueDeclarePassiveAsync(SourceQueue, timeout.Token)).MessageCount) > 0 && ready.Elapsed < TimeSpan.FromSeconds(10))
                {
                    await Task.Delay(50, timeout.Token);
                }

                Assert.True(source == 0, $"the source still holds {source} messages {ready.Elapsed.TotalSeconds:F1} s after the restart (TTL ≤ 200 ms)\n{broker.Describe()}");
                var emptiedAfter = ready.Elapsed;
                // A message being dead-lettered has left the source's count before it is in the target's:
                // consume until nothing more arrives and both queues are empty.
                var consumer = new AsyncEventingBasicConsumer(channel);
                consumer.ReceivedAsync += (_, e) =>
                {
                    copies.Enqueue((e.BasicProperties.MessageId, e.Redelivered, DescribeDeath(e.BasicProperties.Headers), e.BasicProperties.MessageId is { } id && e.Body.Span.SequenceEqual(CrashLedger.Body(id))));
                    return Task.CompletedTask;
                };
                var tag = await channel.BasicConsumeAsync(TargetQueue, autoAck: true, consumer, timeout.Token);
                uint leftTarget, leftSource;
                var count = -1;
                do
                {
                    count = copies.Count;
                    await Task.Delay(500, timeout.Token);
                    leftTarget = (await channel.QueueDeclarePassiveAsync(TargetQueue, timeout.Token)).MessageCount;
                    leftSource = (await channel.QueueDeclarePassiveAsync(SourceQueue, timeout.Token)).MessageCount;
                }
                while (count != copies.Count || leftTarget > 0 || leftSource > 0);

                await channel.BasicCancelAsync(tag, cancellationToken: timeout.Token);
                var held = copies.Count;
                output.WriteLine($"final: {Recovered(broker)}; source empty {emptiedAfter.TotalMilliseconds:F0} ms after ready; drained {held} from the target, both queues empty {ready.Elapsed.TotalMilliseconds:F0} ms after ready");
            }

            var code = await broker.StopAsync(ExitTimeout);
            Assert.True(code == 0, $"broker exit code {code} after SIGTERM\n{broker.Describe()}");
            summary = broker.Describe();
        }
        finally
        {
            CollectErrors(broker, "final");
        }

        var present = copies.GroupBy(c => c.Id ?? "(no id)", StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.ToList(), StringComparer.Ordinal);
        var missing = _ledger.Confirmed.Keys.Where(id => !present.ContainsKey(id)).Order(StringComparer.Ordinal).ToList();
        var unknown = present.Keys.Where(id => !_ledger.Published.ContainsKey(id)).ToList();
        var damaged = copies.Where(c => !c.BodyOk).Select(c => c.Id ?? "(no id)").ToList();
        // A second dead-lettering of the same source message carries the same single x-death entry as the first.
        const string Expected = $"1x expired from {SourceQueue}";
        var badDeath = copies.Where(c => c.Death != Expected).Select(c => $"{c.Id}: x-death {c.Death}").ToList();
        var duplicated = present.Where(p => p.Value.Count > 1).ToList();
        var extraCopies = duplicated.Sum(p => p.Value.Count - 1);
        var duplicatedByCycle = duplicated.GroupBy(p => _ledger.Published.GetValueOrDefault(p.Key)).OrderBy(g => g.Key).Select(g => $"cycle {g.Key}: {g.Count()}");
        var counts =
            $"published {_ledger.Published.Count}, confirmed {_ledger.Confirmed.Count}, nacked {_ledger.Nacked.Count}, returned {_ledger.Returned.Count}; kills {_kills}; " +
            $"target held {copies.Count} ({present.Count} distinct, {present.Keys.Count(id => _ledger.Published.ContainsKey(id) && !_ledger.Confirmed.ContainsKey(id))} published but never confirmed); " +
            $"missing {missing.Count}, duplicated ids {duplicated.Count} ({extraCopies} extra copies{(duplicated.Count > 0 ? $"; by publish cycle: {string.Join(", ", duplicatedByCycle)}" : string.Empty)}), " +
            $"redelivered-flagged copies {copies.Count(c => c.Redelivered)}, never published {unknown.Count}, damaged {damaged.Count}, wrong x-death {badDeath.Count}";
        output.WriteLine(counts);

        Assert.True(missing.Count == 0, $"{missing.Count} confirmed messages were dead-lettered nowhere, e.g. {Sample(missing)}\n{counts}");
        Assert.True(unknown.Count == 0, $"{unknown.Count} dead letters were never published, e.g. {Sample(unknown)}\n{counts}");
        Assert.True(damaged.Count == 0, $"{damaged.Count} dead letters have a damaged body, e.g. {Sample(damaged)}\n{counts}");
        Assert.True(badDeath.Count == 0, $"{badDeath.Count} dead letters carry an unexpected x-death (expected '{Expected}'), e.g. {Sample(badDeath)}\n{counts}");
        Assert.True(duplicated.Count == 0, $"{duplicated.Count} messages were dead-lettered more than once, e.g. {Sample(duplicated.Select(p => $"{p.Key} x{p.Value.Count}").ToList())}\n{counts}");
        Assert.True(_brokerErrors.Count == 0, $"the broker reported errors:\n{string.Join('\n', _brokerErrors.Take(20))}\n{summary}");
    }

    /// <summary>"Nx reason from queue" for a single x-death entry; anything else spelled out for the failure message.</summary>
    private static string DescribeDeath(IDictionary<string, object?>? headers)
    {
        if (headers is null || !headers.TryGetValue("x-death", out var value) || value is not IList deaths)
        {
            return "(none)";
        }

        var entries = new List<string>();
        foreach (var death in deaths)
        {
            if (death is not IDictionary<string, object?> table)
            {
                entries.Add($"({death?.GetType().Name})");
                continue;
            }

            entries.Add($"{Field(table, "count")}x {Text(Field(table, "reason"))} from {Text(Field(table, "queue"))}");
        }

        return string.Join("; ", entries);
    }

    private static object? Field(IDictionary<string, object?> table, string key) => table.TryGetValue(key, out var value) ? value : null;

    private static string? Text(object? value) => value switch
    {
        byte[] bytes => Encoding.UTF8.GetString(bytes),
        null => null,
        _ => value.ToString(),
    };

    // ------------------------------------------------------------------ delayed delivery

    [Fact]
    public async Task Delayed_delivery_loses_nothing_is_never_early_and_duplicates_at_most_once_per_kill_under_SIGKILL()
    {
        var (seed, cycles) = Plan("delayed delivery");
        var random = new Random(seed);
        var delays = new ConcurrentDictionary<string, (long PublishedAtMs, int DelayMs)>(StringComparer.Ordinal);
        var observed = new ConcurrentDictionary<string, int>(StringComparer.Ordinal);
        var firstSeen = new ConcurrentDictionary<string, (int Cycle, long At)>(StringComparer.Ordinal);
        var early = new ConcurrentQueue<string>();
        var clock = Stopwatch.StartNew();
        var cycle = 0;
        try
        {
            for (; cycle < cycles; cycle++)
            {
                var killAfter = TimeSpan.FromMilliseconds(random.Next(200, 2000));
                var thisCycle = cycle;
                await RunCycleAsync(cycle, killAfter, async (channel, first, ct) =>
                {
                    var held = first
                        ? (await channel.QueueDeclareAsync(DelayQueue, durable: true, exclusive: false, autoDelete: false, cancellationToken: ct)).MessageCount
                        : (await channel.QueueDeclarePassiveAsync(DelayQueue, ct)).MessageCount;
                    await channel.QueueBindAsync(DelayQueue, "amq.direct", DelayRoutingKey, cancellationToken: ct);
                    return $"queue holds {held}";
                }, id =>
                {
                    var delay = DelayOf(id, seed);
                    delays[id] = (DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), delay);
                    return ("amq.direct", DelayRoutingKey, new BasicProperties
                    {
                        Persistent = true,
                        MessageId = id,
                        Headers = new Dictionary<string, object?> { ["x-delay"] = delay },
                    });
                }, observe: async (connection, ct) =>
                {
                    // Watches releases as they happen, without acking: every delivery is checked for being early.
                    var channel = await connection.CreateChannelAsync(cancellationToken: ct);
                    var consumer = new AsyncEventingBasicConsumer(channel);
                    consumer.ReceivedAsync += (_, e) =>
                    {
                        CheckOnTime(e.BasicProperties.MessageId, thisCycle, delays, early);
                        if (e.BasicProperties.MessageId is { } id)
                        {
                            observed[id] = thisCycle;
                            firstSeen.TryAdd(id, (thisCycle, Stopwatch.GetTimestamp()));
                        }

                        return Task.CompletedTask;
                    };
                    await channel.BasicConsumeAsync(DelayQueue, autoAck: false, consumer, ct);
                    return () => $"observer saw {observed.Count(o => o.Value == thisCycle)} released";
                });
            }

            await FinalDelayCheckAsync(cycles, delays, observed, firstSeen, early);
        }
        catch (Exception ex)
        {
            var where = cycle < cycles ? $"in cycle {cycle}" : "in the final run";
            throw new InvalidOperationException($"Delayed-delivery crash test failed {where} with seed {seed} (replay with HOLDFAST_CRASH_SEED={seed}): {ex.Message}", ex);
        }

        output.WriteLine($"{cycles} cycles and the final run took {clock.Elapsed.TotalSeconds:F1} s");
    }

    private async Task FinalDelayCheckAsync(int cycles, ConcurrentDictionary<string, (long PublishedAtMs, int DelayMs)> delays, ConcurrentDictionary<string, int> observed, ConcurrentDictionary<string, (int Cycle, long At)> firstSeen, ConcurrentQueue<string> early)
    {
        using var timeout = new CancellationTokenSource(FinalTimeout);
        var copies = new ConcurrentQueue<(string? Id, bool Redelivered, bool BodyOk)>();
        await using var broker = BrokerProcess.Start(DataDir);
        string summary;
        try
        {
            var port = await broker.WaitReadyAsync(timeout.Token);
            CheckRecovery(broker);
            var ready = Stopwatch.StartNew();
            await using (var connection = await Factory(port).CreateConnectionAsync("delay-final", timeout.Token))
            await using (var channel = await connection.CreateChannelAsync(cancellationToken: timeout.Token))
            {
                // Consume from the start, so releases that fall due now are timed too; then wait out every delay.
                var consumer = new AsyncEventingBasicConsumer(channel);
                consumer.ReceivedAsync += (_, e) =>
                {
                    CheckOnTime(e.BasicProperties.MessageId, cycles, delays, early);
                    copies.Enqueue((e.BasicProperties.MessageId, e.Redelivered, e.BasicProperties.MessageId is { } id && e.Body.Span.SequenceEqual(CrashLedger.Body(id))));
                    return Task.CompletedTask;
                };
                var tag = await channel.BasicConsumeAsync(DelayQueue, autoAck: true, consumer, timeout.Token);
                await Task.Delay(TimeSpan.FromMilliseconds(MaxDelayMs + 2000), timeout.Token);
                var count = -1;
                while (count != copies.Count)
                {
                    count = copies.Count;
                    await Task.Delay(300, timeout.Token);
                }

                await channel.BasicCancelAsync(tag, cancellationToken: timeout.Token);
                var left = (await channel.QueueDeclarePassiveAsync(DelayQueue, timeout.Token)).MessageCount;
                Assert.True(left == 0, $"{left} messages left in the queue after the drain\n{broker.Describe()}");
                output.WriteLine($"final: {Recovered(broker)}; drained {copies.Count} in {ready.Elapsed.TotalSeconds:F1} s after ready");
            }

            var code = await broker.StopAsync(ExitTimeout);
            Assert.True(code == 0, $"broker exit code {code} after SIGTERM\n{broker.Describe()}");
            summary = broker.Describe();
        }
        finally
        {
            CollectErrors(broker, "final");
        }

        var present = copies.GroupBy(c => c.Id ?? "(no id)", StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.ToList(), StringComparer.Ordinal);
        var missing = _ledger.Confirmed.Keys.Where(id => !present.ContainsKey(id)).Order(StringComparer.Ordinal).ToList();
        var unknown = present.Keys.Where(id => !_ledger.Published.ContainsKey(id)).ToList();
        var damaged = copies.Where(c => !c.BodyOk).Select(c => c.Id ?? "(no id)").ToList();
        // Delivered (never acked) in an earlier life: the queue's copy must come back marked redelivered.
        var unmarked = observed.Keys.Where(id => present.TryGetValue(id, out var list) && !list.Any(c => c.Redelivered)).Order(StringComparer.Ordinal).ToList();
        var vanished = observed.Keys.Where(id => !present.ContainsKey(id)).Order(StringComparer.Ordinal).ToList();
        var duplicated = present.Where(p => p.Value.Count > 1).ToList();
        var extraCopies = duplicated.Sum(p => p.Value.Count - 1);
        var counts =
            $"published {_ledger.Published.Count}, confirmed {_ledger.Confirmed.Count}, nacked {_ledger.Nacked.Count}, returned {_ledger.Returned.Count}; kills {_kills}; " +
            $"observed released during the cycles {observed.Count}; final drain {copies.Count} ({present.Count} distinct, {copies.Count(c => c.Redelivered)} flagged redelivered, " +
            $"{present.Keys.Count(id => _ledger.Published.ContainsKey(id) && !_ledger.Confirmed.ContainsKey(id))} published but never confirmed); " +
            $"missing {missing.Count}, duplicated ids {duplicated.Count} ({extraCopies} extra copies, {duplicated.Count(p => p.Value.All(c => !c.Redelivered))} with no copy flagged redelivered), " +
            $"early {early.Count}, never published {unknown.Count}, damaged {damaged.Count}, seen before but not flagged redelivered {unmarked.Count}, seen before and gone {vanished.Count}";
        output.WriteLine(counts);
        foreach (var group in duplicated.Where(p => firstSeen.ContainsKey(p.Key)).GroupBy(p => firstSeen[p.Key].Cycle).OrderBy(g => g.Key))
        {
            // How long before its cycle's kill each duplicated message was first released: the window the release's ack was lost in.
            var before = group.Select(p => Stopwatch.GetElapsedTime(firstSeen[p.Key].At, _killedAt[group.Key]).TotalMilliseconds).ToList();
            output.WriteLine($"  duplicated ids first released in cycle {group.Key}: {group.Count()}, released {before.Max():F0} to {before.Min():F0} ms before that cycle's kill");
        }

        output.WriteLine($"  duplicated ids never seen released before the final run: {duplicated.Count(p => !firstSeen.ContainsKey(p.Key))}");

        Assert.True(early.IsEmpty, $"{early.Count} messages were delivered before their delay ran out, e.g.:\n{string.Join('\n', early.Take(10))}\n{counts}");
        Assert.True(missing.Count == 0, $"{missing.Count} confirmed delayed messages never arrived, e.g. {Sample(missing)}\n{counts}");
        Assert.True(vanished.Count == 0, $"{vanished.Count} messages delivered (never acked) in an earlier life are gone, e.g. {Sample(vanished)}\n{counts}");
        Assert.True(unknown.Count == 0, $"{unknown.Count} messages were never published, e.g. {Sample(unknown)}\n{counts}");
        Assert.True(damaged.Count == 0, $"{damaged.Count} messages have a damaged body, e.g. {Sample(damaged)}\n{counts}");
        Assert.True(unmarked.Count == 0, $"{unmarked.Count} messages delivered in an earlier life came back without the redelivered flag, e.g. {Sample(unmarked)}\n{counts}");
        Assert.True(duplicated.Count == 0, $"{duplicated.Count} messages were released more than once, e.g. {Sample(duplicated.Select(p => $"{p.Key} x{p.Value.Count}").ToList())}\n{counts}");
        Assert.True(_brokerErrors.Count == 0, $"the broker reported errors:\n{string.Join('\n', _brokerErrors.Take(20))}\n{summary}");
    }

    private static void CheckOnTime(string? id, int cycle, ConcurrentDictionary<string, (long PublishedAtMs, int DelayMs)> delays, ConcurrentQueue<string> early)
    {
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        if (id is not null && delays.TryGetValue(id, out var sent) && now < sent.PublishedAtMs + sent.DelayMs - EarlyToleranceMs)
        {
            early.Enqueue($"cycle {cycle}: {id} with x-delay {sent.DelayMs} ms delivered {now - sent.PublishedAtMs} ms after its publish");
        }
    }

    /// <summary>The id's delay, 100–1500 ms, fixed by the id and the seed so a seed replays it.</summary>
    private static int DelayOf(string id, int seed)
    {
        var hash = (uint)seed * 2654435761u;
        foreach (var c in id)
        {
            hash = (hash ^ c) * 16777619u;
        }

        return MinDelayMs + (int)(hash % (MaxDelayMs - MinDelayMs + 1));
    }

    // ------------------------------------------------------------------ shared cycle

    private (int Seed, int Cycles) Plan(string what)
    {
        var seed = Environment.GetEnvironmentVariable("HOLDFAST_CRASH_SEED") is { Length: > 0 } fixedSeed
            ? int.Parse(fixedSeed, CultureInfo.InvariantCulture)
            : Random.Shared.Next();
        var cycles = Environment.GetEnvironmentVariable("HOLDFAST_DLX_CRASH_CYCLES") is { Length: > 0 } fixedCycles
            ? int.Parse(fixedCycles, CultureInfo.InvariantCulture)
            : DefaultCycles;
        Assert.True(cycles >= 1, "HOLDFAST_DLX_CRASH_CYCLES must be at least 1");
        output.WriteLine($"{what}: seed {seed} (HOLDFAST_CRASH_SEED={seed} replays the plan), {cycles} cycles, data in {DataDir}");
        return (seed, cycles);
    }

    /// <summary>
    /// One broker life: start, check recovery, declare (or check) the topology, optionally attach an
    /// observer, publish from <see cref="Publishers"/> confirm-tracking channels, SIGKILL after
    /// <paramref name="killAfter"/>, and let every publish settle.
    /// </summary>
    private async Task RunCycleAsync(
        int cycle,
        TimeSpan killAfter,
        Func<IChannel, bool, CancellationToken, Task<string>> setup,
        Func<string, (string Exchange, string RoutingKey, BasicProperties Properties)> message,
        Func<IConnection, CancellationToken, Task<Func<string>>>? observe)
    {
        using var timeout = new CancellationTokenSource(CycleTimeout);
        var started = Stopwatch.StartNew();
        await using var broker = BrokerProcess.Start(DataDir);
        var connections = new List<IConnection>();
        var killed = new Killed();
        try
        {
            var port = await broker.WaitReadyAsync(timeout.Token);
            var startup = started.Elapsed;
            CheckRecovery(broker);
            var factory = Factory(port);
            var channels = new List<IChannel>();
            for (var p = 0; p < Publishers; p++)
            {
                var connection = await factory.CreateConnectionAsync($"crash-publisher-{p}", timeout.Token);
                connections.Add(connection);
                channels.Add(await connection.CreateChannelAsync(
                    new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true, outstandingPublisherConfirmationsRateLimiter: null),
                    timeout.Token));
            }

            var state = await setup(channels[0], cycle == 0, timeout.Token);
            Func<string>? observer = null;
            if (observe is not null)
            {
                var connection = await factory.CreateConnectionAsync("crash-observer", timeout.Token);
                connections.Add(connection);
                observer = await observe(connection, timeout.Token);
            }

            var runs = Enumerable.Range(0, Publishers).Select(p => new Run(p)).ToArray();
            var publishing = runs.Select(run => Task.Run(() => PublishUntilClosedAsync(cycle, channels[run.Index], run, killed, message, timeout.Token), timeout.Token)).ToList();
            await Task.Delay(killAfter, timeout.Token);

            killed.IsSet = true;
            broker.Kill();
            _killedAt[cycle] = Stopwatch.GetTimestamp();
            _kills++;
            var code = await broker.WaitForExitAsync(ExitTimeout);
            Assert.True(code == SigKillExitCode, $"broker exit code {code} after SIGKILL\n{broker.Describe()}");
            try
            {
                await Task.WhenAll(publishing).WaitAsync(SettleTimeout, timeout.Token);
            }
            catch (TimeoutException)
            {
                throw new TimeoutException($"publishes were neither confirmed nor failed {SettleTimeout.TotalSeconds} s after the kill");
            }

            foreach (var run in runs)
            {
                if (run.FailureBeforeKill is { } failure)
                {
                    throw new InvalidOperationException($"publisher {run.Index} failed before the kill: {failure.Message}\n{broker.Describe()}", failure);
                }
            }

            output.WriteLine(
                $"cycle {cycle}: ready after {startup.TotalMilliseconds:F0} ms ({Recovered(broker)}); {state}; killed {killAfter.TotalMilliseconds} ms into publishing: " +
                $"{runs.Sum(r => r.Published)} published, {runs.Sum(r => r.Confirmed)} confirmed{(observer is null ? string.Empty : "; " + observer())}");
        }
        finally
        {
            foreach (var connection in connections)
            {
                try
                {
                    await connection.DisposeAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(5), CancellationToken.None);
                }
                catch (Exception)
                {
                    // The broker is dead: how the client takes that while closing is of no interest here.
                }
            }

            CollectErrors(broker, $"cycle {cycle}");
        }
    }

    private async Task PublishUntilClosedAsync(
        int cycle,
        IChannel channel,
        Run run,
        Killed killed,
        Func<string, (string Exchange, string RoutingKey, BasicProperties Properties)> message,
        CancellationToken cancellation)
    {
        using var window = new SemaphoreSlim(InFlightPerPublisher, InFlightPerPublisher);
        for (var seq = 0L; run.Failure is null && channel.IsOpen; seq++)
        {
            await window.WaitAsync(cancellation);
            if (run.Failure is not null)
            {
                window.Release();
                break;
            }

            var id = CrashLedger.Id(cycle, run.Index, seq);
            _ledger.Published[id] = cycle;
            Interlocked.Increment(ref run.Published);
            var (exchange, routingKey, properties) = message(id);
            _ = PublishOneAsync(channel, run, killed, id, exchange, routingKey, properties, window);
        }

        for (var i = 0; i < InFlightPerPublisher; i++)
        {
            await window.WaitAsync(cancellation);
        }
    }

    private async Task PublishOneAsync(IChannel channel, Run run, Killed killed, string id, string exchange, string routingKey, BasicProperties properties, SemaphoreSlim window)
    {
        try
        {
            await channel.BasicPublishAsync(exchange, routingKey, mandatory: true, properties, CrashLedger.Body(id));
            _ledger.Confirmed.TryAdd(id, 0);
            Interlocked.Increment(ref run.Confirmed);
        }
        catch (PublishException ex)
        {
            (ex.IsReturn ? _ledger.Returned : _ledger.Nacked).TryAdd(id, 0);
            run.Fail(new InvalidOperationException($"{id} was {(ex.IsReturn ? "returned" : "nacked")}", ex), killed);
        }
        catch (Exception ex)
        {
            run.Fail(ex, killed);
        }
        finally
        {
            window.Release();
        }
    }

    private void CollectErrors(BrokerProcess broker, string when)
    {
        _brokerErrors.AddRange(broker.Errors.Select(e => $"{when}: {e}"));
        foreach (var complaint in broker.Complaints.Take(5))
        {
            output.WriteLine($"{when}: broker: {complaint}");
        }
    }

    private static void CheckRecovery(BrokerProcess broker)
    {
        var line = broker.RecoveryLine;
        Assert.True(
            line is not null && line.Contains(", 0 corrupt regions skipped", StringComparison.Ordinal) && line.EndsWith(", 0 messages lost", StringComparison.Ordinal),
            $"recovery after SIGKILL was not clean: {line ?? "(no recovery line)"}\n{broker.Describe()}");
    }

    private static string Recovered(BrokerProcess broker)
    {
        var line = broker.RecoveryLine ?? string.Empty;
        var end = line.IndexOf(':', "holdfast: ".Length);
        return end > 0 ? line["holdfast: ".Length..end] : line;
    }

    private static string Sample(List<string> items) => string.Join(", ", items.Take(10));

    private static ConnectionFactory Factory(int port) => LoopbackClient.Factory(port, TimeSpan.FromSeconds(10));

    private sealed class Killed
    {
        private volatile bool _set;

        public bool IsSet
        {
            get => _set;
            set => _set = value;
        }
    }

    private sealed class Run(int index)
    {
        public long Published;
        public long Confirmed;
        private Exception? _failure;
        private Exception? _failureBeforeKill;

        public int Index { get; } = index;

        public Exception? Failure => Volatile.Read(ref _failure);

        public Exception? FailureBeforeKill => Volatile.Read(ref _failureBeforeKill);

        public void Fail(Exception failure, Killed killed)
        {
            if (!killed.IsSet)
            {
                Interlocked.CompareExchange(ref _failureBeforeKill, failure, null);
            }

            Interlocked.CompareExchange(ref _failure, failure, null);
        }
    }
}
