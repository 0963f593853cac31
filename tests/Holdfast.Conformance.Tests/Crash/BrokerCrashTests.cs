using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using Holdfast.Conformance.Tests.Support;
using Holdfast.Testing;
using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;
using Xunit.Abstractions;

namespace Holdfast.Conformance.Tests.Crash;

/// <summary>
/// Kills the real broker, <c>holdfast run</c>, with SIGKILL at random moments while four connections
/// publish persistent messages with confirms to one durable queue, and restarts it on the same data
/// directory, cycle after cycle; some cycles also consume and ack. At the end it drains the queue and
/// holds the broker to its promise: every message whose confirm arrived is there exactly once, unless
/// our consumer acked it (an ack is written without waiting, so one sent just before a kill may be
/// lost and the message come back: at most once). Nothing is there that was never published, and
/// each publisher's messages that were never delivered come out in the order they were published.
/// One cycle in ten kills the broker while it recovers instead, and a kill can come before any confirm:
/// such cycles publish nothing confirmed and do not count, so the run goes on until
/// HOLDFAST_BROKER_CRASH_CYCLES (20 by default) cycles have had confirmed messages at their kill, within
/// twice that many cycles in all. HOLDFAST_CRASH_SEED replays a run's plan (kill moments, which cycles consume).
/// </summary>
public sealed class BrokerCrashTests(ITestOutputHelper output) : IDisposable
{
    private const string QueueName = "crash-durable";
    private const int DefaultCycles = 20;
    private const int Publishers = 4;
    private const int InFlightPerPublisher = 64;
    private const ushort ConsumerPrefetch = 200;
    private const ushort DrainPrefetch = 1000;
    private const int SigKillExitCode = 137;
    private static readonly TimeSpan CycleTimeout = TimeSpan.FromSeconds(45);
    private static readonly TimeSpan ExitTimeout = TimeSpan.FromSeconds(15);
    private static readonly TimeSpan SettleTimeout = TimeSpan.FromSeconds(15);
    private static readonly TimeSpan DrainTimeout = TimeSpan.FromSeconds(60);

    private readonly TempDirectory _dir = new("holdfast-broker-crash");
    private readonly CrashLedger _ledger = new();
    private readonly List<string> _brokerErrors = [];

    private string DataDir => Path.Combine(_dir.Path, "data");

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task Every_confirmed_message_survives_repeated_SIGKILL_of_the_broker_exactly_once()
    {
        var seed = Environment.GetEnvironmentVariable("HOLDFAST_CRASH_SEED") is { Length: > 0 } fixedSeed
            ? int.Parse(fixedSeed, CultureInfo.InvariantCulture)
            : Random.Shared.Next();
        var publishingCycles = Environment.GetEnvironmentVariable("HOLDFAST_BROKER_CRASH_CYCLES") is { Length: > 0 } fixedCycles
            ? int.Parse(fixedCycles, CultureInfo.InvariantCulture)
            : DefaultCycles;
        Assert.True(publishingCycles >= 1, "HOLDFAST_BROKER_CRASH_CYCLES must be at least 1");

        // Bounded: a run where most kills land before any confirm fails below instead of going on forever.
        var maxCycles = publishingCycles * 2;
        output.WriteLine($"seed {seed} (HOLDFAST_CRASH_SEED={seed} replays the plan), {publishingCycles} cycles with confirmed messages (at most {maxCycles} in all), data in {DataDir}");
        var random = new Random(seed);
        var clock = Stopwatch.StartNew();
        var cycle = 0;
        var published = 0;
        var draining = false;
        try
        {
            for (; published < publishingCycles && cycle < maxCycles; cycle++)
            {
                if (await RunCycleAsync(cycle, random) > 0)
                {
                    published++;
                }
            }

            Assert.True(published >= publishingCycles, $"only {published} of {cycle} cycles had confirmed messages when the broker was killed; {publishingCycles} are required");
            draining = true;
            await DrainAndVerifyAsync(cycle);
        }
        catch (Exception ex)
        {
            var where = draining ? "in the final drain" : $"in cycle {cycle}";
            throw new InvalidOperationException($"Broker crash test failed {where} with seed {seed} (replay with HOLDFAST_CRASH_SEED={seed}): {ex.Message}", ex);
        }

        output.WriteLine($"{cycle} cycles ({published} with confirmed messages) and the drain took {clock.Elapsed.TotalSeconds:F1} s");
    }

    /// <summary>One start, run and SIGKILL; returns how many messages were confirmed before the kill (0 for a kill during recovery).</summary>
    private async Task<long> RunCycleAsync(int cycle, Random random)
    {
        // The whole plan comes from the seeded generator, drawn in a fixed order, so a seed replays it.
        var killInRecovery = cycle > 0 && random.Next(10) == 0;
        var killAfter = TimeSpan.FromMilliseconds(killInRecovery ? random.Next(0, 150) : random.Next(50, 1500));
        var consume = cycle > 0 && random.Next(2) == 0;
        var ackEvery = random.Next(3) == 0 ? random.Next(2, 40) : 1;

        using var timeout = new CancellationTokenSource(CycleTimeout);
        var started = Stopwatch.StartNew();
        await using var broker = BrokerProcess.Start(DataDir);
        try
        {
            if (killInRecovery)
            {
                await broker.WaitOpeningAsync(timeout.Token);
                await Task.Delay(killAfter, timeout.Token);
                var code = await broker.KillAsync(ExitTimeout);
                Assert.True(code == SigKillExitCode, $"broker exit code {code} after SIGKILL during recovery\n{broker.Describe()}");
                output.WriteLine($"cycle {cycle}: killed {killAfter.TotalMilliseconds} ms after the broker began opening the store ({(broker.IsReady ? "after it became ready" : "before it was ready")})");
                return 0;
            }

            var port = await broker.WaitReadyAsync(timeout.Token);
            var startup = started.Elapsed;
            CheckRecovery(broker);
            return await RunClientsAndKillAsync(cycle, port, broker, killAfter, consume, ackEvery, startup, timeout.Token);
        }
        finally
        {
            _brokerErrors.AddRange(broker.Errors.Select(e => $"cycle {cycle}: {e}"));
            foreach (var complaint in broker.Complaints.Take(5))
            {
                output.WriteLine($"cycle {cycle}: broker: {complaint}");
            }
        }
    }

    private async Task<long> RunClientsAndKillAsync(int cycle, int port, BrokerProcess broker, TimeSpan killAfter, bool consume, int ackEvery, TimeSpan startup, CancellationToken cancellation)
    {
        var connections = new List<IConnection>();
        var killed = new KillSwitch();
        try
        {
            var factory = Factory(port);
            var channels = new List<IChannel>();
            for (var p = 0; p < Publishers; p++)
            {
                var connection = await factory.CreateConnectionAsync($"crash-publisher-{p}", cancellation);
                connections.Add(connection);
                channels.Add(await connection.CreateChannelAsync(
                    new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true, outstandingPublisherConfirmationsRateLimiter: null),
                    cancellation));
            }

            // The queue is declared once, in the first cycle; every later broker must have kept it, and
            // before anything is delivered it holds at least every confirmed message our consumer never acked.
            uint held;
            var mustHold = _ledger.MustBePresentCount();
            if (cycle == 0)
            {
                held = (await channels[0].QueueDeclareAsync(QueueName, durable: true, exclusive: false, autoDelete: false, cancellationToken: cancellation)).MessageCount;
            }
            else
            {
                held = (await channels[0].QueueDeclarePassiveAsync(QueueName, cancellation)).MessageCount;
            }

            Assert.True(held >= mustHold, $"after the restart the queue holds {held} messages, but {mustHold} confirmed and never consumer-acked messages must be there\n{broker.Describe()}");

            CycleConsumer? consumer = null;
            if (consume)
            {
                var connection = await factory.CreateConnectionAsync("crash-consumer", cancellation);
                connections.Add(connection);
                var channel = await connection.CreateChannelAsync(cancellationToken: cancellation);
                await channel.BasicQosAsync(0, ConsumerPrefetch, global: false, cancellation);
                consumer = new CycleConsumer(channel, _ledger, cycle, ackEvery, killed);
                await channel.BasicConsumeAsync(QueueName, autoAck: false, consumer, cancellation);
            }

            var publishers = channels.Select((channel, p) => new PublisherRun(channel, p, killed)).ToList();
            var publishing = publishers.Select(run => Task.Run(() => PublishUntilClosedAsync(cycle, run, cancellation), cancellation)).ToList();
            await Task.Delay(killAfter, cancellation);

            killed.Set();
            broker.Kill();
            _ledger.Kills[cycle] = Stopwatch.GetTimestamp();
            var code = await broker.WaitForExitAsync(ExitTimeout);
            killed.SetExited();
            Assert.True(code == SigKillExitCode, $"broker exit code {code} after SIGKILL\n{broker.Describe()}");

            // Let every publish settle: confirms already in our socket buffer still count, the rest fail.
            try
            {
                await Task.WhenAll(publishing).WaitAsync(SettleTimeout, cancellation);
            }
            catch (TimeoutException)
            {
                throw new TimeoutException($"publishes were neither confirmed nor failed {SettleTimeout.TotalSeconds} s after the kill");
            }
            foreach (var run in publishers)
            {
                if (run.FailureBeforeKill is { } failure)
                {
                    throw new InvalidOperationException($"publisher {run.Index} failed before the kill: {failure}\n{broker.Describe()}", failure);
                }
            }

            if (consumer?.FailureBeforeKill is { } consumerFailure)
            {
                throw new InvalidOperationException($"the consumer failed before the kill: {consumerFailure}\n{broker.Describe()}", consumerFailure);
            }

            var published = publishers.Sum(r => r.Published);
            var confirmed = publishers.Sum(r => r.Confirmed);
            output.WriteLine(
                $"cycle {cycle}: ready after {startup.TotalMilliseconds:F0} ms ({Recovered(broker)}); queue held {held} (at least {mustHold} required); " +
                $"killed {killAfter.TotalMilliseconds} ms into publishing: {published} published, {confirmed} confirmed" +
                (consumer is null ? string.Empty : $"; consumer got {consumer.Deliveries}, acked {consumer.Acked} (ack every {ackEvery}), {(consumer.LastAck == 0 ? "none" : $"the last sent {Relative(Stopwatch.GetElapsedTime(consumer.LastAck, _ledger.Kills[cycle]))} the SIGKILL")}"));
            return confirmed;
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
                    // The broker is dead: however the client takes that while closing is of no interest here.
                }
            }
        }
    }

    /// <summary>Publishes with up to <see cref="InFlightPerPublisher"/> unconfirmed messages until the connection dies, then waits for all to settle.</summary>
    private async Task PublishUntilClosedAsync(int cycle, PublisherRun run, CancellationToken cancellation)
    {
        var window = new SemaphoreSlim(InFlightPerPublisher, InFlightPerPublisher);
        for (var seq = 0L; run.Failure is null && run.Channel.IsOpen; seq++)
        {
            await window.WaitAsync(cancellation);
            if (run.Failure is not null)
            {
                window.Release();
                break;
            }

            var id = CrashLedger.Id(cycle, run.Index, seq);
            _ledger.Published[id] = cycle;
            run.CountPublished();
            _ = PublishOneAsync(run, id, window);
        }

        // Take back every permit: each publish has been confirmed or has failed.
        for (var i = 0; i < InFlightPerPublisher; i++)
        {
            await window.WaitAsync(cancellation);
        }
    }

    private async Task PublishOneAsync(PublisherRun run, string id, SemaphoreSlim window)
    {
        try
        {
            var properties = new BasicProperties { Persistent = true, MessageId = id };
            await run.Channel.BasicPublishAsync(string.Empty, QueueName, mandatory: true, properties, CrashLedger.Body(id));
            _ledger.Confirmed.TryAdd(id, 0);
            run.CountConfirmed();
        }
        catch (PublishException ex)
        {
            // A nack or a return: the broker refused a message to a durable queue on a healthy disk.
            (ex.IsReturn ? _ledger.Returned : _ledger.Nacked).TryAdd(id, 0);
            run.Fail(new InvalidOperationException($"{id} was {(ex.IsReturn ? "returned" : "nacked")}", ex));
        }
        catch (Exception ex)
        {
            run.Fail(ex);
        }
        finally
        {
            window.Release();
        }
    }

    private async Task DrainAndVerifyAsync(int cycle)
    {
        using var timeout = new CancellationTokenSource(DrainTimeout);
        var deliveredBefore = new HashSet<string>(_ledger.Delivered.Keys, StringComparer.Ordinal);
        var drained = new ConcurrentQueue<(string? Id, bool Redelivered)>();
        await using var broker = BrokerProcess.Start(DataDir);
        string summary;
        try
        {
            var port = await broker.WaitReadyAsync(timeout.Token);
            CheckRecovery(broker);
            await using (var connection = await Factory(port).CreateConnectionAsync("crash-drain", timeout.Token))
            await using (var channel = await connection.CreateChannelAsync(cancellationToken: timeout.Token))
            {
                var held = (await channel.QueueDeclarePassiveAsync(QueueName, timeout.Token)).MessageCount;
                // Manual acks in batches under a prefetch limit, so the client never buffers the whole queue.
                await channel.BasicQosAsync(0, DrainPrefetch, global: false, timeout.Token);
                var consumer = new DrainConsumer(channel, _ledger, cycle, drained);
                var tag = await channel.BasicConsumeAsync(QueueName, autoAck: false, consumer, timeout.Token);
                while (drained.Count < held && !timeout.IsCancellationRequested)
                {
                    await Task.Delay(20, CancellationToken.None);
                }

                Assert.True(drained.Count >= held, $"the drain stalled: the queue said it held {held}, the consumer got {drained.Count} in {DrainTimeout.TotalSeconds} s\n{broker.Describe()}");

                // Anything beyond what the queue said it held would be a copy: give it a moment to show.
                using var finish = new CancellationTokenSource(SettleTimeout);
                await Task.Delay(300, finish.Token);
                await channel.BasicCancelAsync(tag, cancellationToken: finish.Token);
                var left = (await channel.QueueDeclarePassiveAsync(QueueName, finish.Token)).MessageCount;
                Assert.True(drained.Count == held && left == 0, $"the queue said it held {held}, the consumer got {drained.Count}, and {left} are left\n{broker.Describe()}");
                output.WriteLine($"drain: ready, {Recovered(broker)}; drained {held} messages");
            }

            var code = await broker.StopAsync(ExitTimeout);
            Assert.True(code == 0, $"broker exit code {code} after SIGTERM\n{broker.Describe()}");
            summary = broker.Describe();
        }
        finally
        {
            _brokerErrors.AddRange(broker.Errors.Select(e => $"drain: {e}"));
            foreach (var complaint in broker.Complaints.Take(5))
            {
                output.WriteLine($"drain: broker: {complaint}");
            }
        }

        var present = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var (id, _) in drained)
        {
            present[id ?? "(no id)"] = present.GetValueOrDefault(id ?? "(no id)") + 1;
        }

        var missing = _ledger.Confirmed.Keys.Where(id => _ledger.MustBePresent(id) && !present.ContainsKey(id)).Order(StringComparer.Ordinal).ToList();
        var duplicated = present.Where(p => p.Value > 1).Select(p => $"{p.Key} x{p.Value}").Order(StringComparer.Ordinal).ToList();
        var unknown = present.Keys.Where(id => !_ledger.Published.ContainsKey(id)).ToList();
        var counts =
            $"published {_ledger.Published.Count}, confirmed {_ledger.Confirmed.Count}, nacked {_ledger.Nacked.Count}, returned {_ledger.Returned.Count}; " +
            $"consumer got {deliveredBefore.Count} distinct, sent {_ledger.AcksSent} acks, {_ledger.AcksUndone.Count(a => a.Value.CameBackIn < cycle)} acked ones came back in a later cycle; " +
            $"drained {drained.Count} ({present.Count} distinct): {present.Keys.Count(_ledger.Confirmed.ContainsKey)} confirmed, " +
            $"{present.Keys.Count(id => _ledger.Published.ContainsKey(id) && !_ledger.Confirmed.ContainsKey(id))} published but never confirmed, " +
            $"{_ledger.AcksUndone.Count(a => a.Value.CameBackIn == cycle)} consumer-acked ones back; " +
            $"missing {missing.Count}, duplicated {duplicated.Count}, never published {unknown.Count}";
        output.WriteLine(counts);
        foreach (var lost in _ledger.AcksUndone.Values.GroupBy(a => a.AckedIn).OrderBy(g => g.Key))
        {
            // Acks are written without waiting for the disk: the ones a kill takes should be the last few sent.
            output.WriteLine($"  acks sent in cycle {lost.Key} that did not survive its kill: {lost.Count()}, sent from {Relative(lost.Max(a => a.BeforeKill))} to {Relative(lost.Min(a => a.BeforeKill))} the SIGKILL");
        }

        Assert.True(missing.Count == 0, $"{missing.Count} confirmed messages that our consumer never acked are gone, e.g. {Sample(missing, id => Describe(id, deliveredBefore))}\n{counts}");
        Assert.True(duplicated.Count == 0, $"{duplicated.Count} messages are in the queue more than once, e.g. {Sample(duplicated, s => s)}\n{counts}");
        Assert.True(unknown.Count == 0, $"{unknown.Count} messages in the queue were never published, e.g. {Sample(unknown, s => s)}\n{counts}");
        Assert.True(_ledger.Violations.IsEmpty, $"{_ledger.Violations.Count} bad deliveries, e.g.:\n{string.Join('\n', _ledger.Violations.Take(10))}\n{counts}");

        // Per publisher channel, messages never delivered before keep the order they were published in.
        var last = new Dictionary<string, long>(StringComparer.Ordinal);
        var disorder = new List<string>();
        foreach (var (id, _) in drained)
        {
            if (id is null || deliveredBefore.Contains(id) || !_ledger.Published.ContainsKey(id))
            {
                continue;
            }

            var (channel, seq) = CrashLedger.Parse(id);
            if (last.TryGetValue(channel, out var previous) && previous > seq)
            {
                disorder.Add($"{id} after {channel}.{previous:D7}");
            }

            last[channel] = seq;
        }

        Assert.True(disorder.Count == 0, $"{disorder.Count} messages out of their publisher's order, e.g. {Sample(disorder, s => s)}\n{counts}");
        Assert.True(_brokerErrors.Count == 0, $"the broker reported errors:\n{string.Join('\n', _brokerErrors.Take(20))}\n{summary}");
    }

    private string Describe(string id, HashSet<string> deliveredBefore)
    {
        var cycle = _ledger.Published.GetValueOrDefault(id);
        var undone = _ledger.AcksUndone.TryGetValue(id, out var ack) ? $", its ack of cycle {ack.AckedIn} lost and delivered again in cycle {ack.CameBackIn}" : string.Empty;
        return deliveredBefore.Contains(id)
            ? $"{id} (published and confirmed in cycle {cycle}, last delivered in cycle {_ledger.Delivered.GetValueOrDefault(id)}{undone}, not acked since)"
            : $"{id} (published and confirmed in cycle {cycle}, never delivered)";
    }

    private static string Relative(TimeSpan beforeKill) =>
        beforeKill >= TimeSpan.Zero ? $"{beforeKill.TotalMilliseconds:F1} ms before" : $"{-beforeKill.TotalMilliseconds:F1} ms after";

    private static string Sample(List<string> items, Func<string, string> describe) => string.Join(", ", items.Take(10).Select(describe));

    private static void CheckRecovery(BrokerProcess broker)
    {
        // A process crash loses nothing written to the operating system: no corrupt regions, nothing lost.
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

    private static ConnectionFactory Factory(int port) => LoopbackClient.Factory(port, TimeSpan.FromSeconds(10));

    /// <summary>
    /// Set just before the SIGKILL: failures after it are the crash, failures before it are bugs. Marked
    /// exited once the broker is gone: nothing sent after that can have reached it.
    /// </summary>
    private sealed class KillSwitch
    {
        private volatile bool _set;
        private volatile bool _exited;

        public bool IsSet => _set;

        public bool HasExited => _exited;

        public void Set() => _set = true;

        public void SetExited() => _exited = true;
    }

    private sealed class PublisherRun(IChannel channel, int index, KillSwitch killed)
    {
        private Exception? _failure;
        private Exception? _failureBeforeKill;
        private long _published;
        private long _confirmed;

        public IChannel Channel { get; } = channel;

        public int Index { get; } = index;

        public Exception? Failure => Volatile.Read(ref _failure);

        public Exception? FailureBeforeKill => Volatile.Read(ref _failureBeforeKill);

        public long Published => Interlocked.Read(ref _published);

        public long Confirmed => Interlocked.Read(ref _confirmed);

        public void CountPublished() => Interlocked.Increment(ref _published);

        public void CountConfirmed() => Interlocked.Increment(ref _confirmed);

        public void Fail(Exception failure)
        {
            if (!killed.IsSet)
            {
                Interlocked.CompareExchange(ref _failureBeforeKill, failure, null);
            }

            Interlocked.CompareExchange(ref _failure, failure, null);
        }
    }

    /// <summary>Consumes with manual acks, one by one or every few with multiple=true; records each id as acked before sending its ack.</summary>
    private sealed class CycleConsumer(IChannel channel, CrashLedger ledger, int cycle, int ackEvery, KillSwitch killed) : AsyncDefaultBasicConsumer(channel)
    {
        private readonly List<string> _unacked = [];
        private Exception? _failureBeforeKill;

        public int Deliveries { get; private set; }

        public int Acked { get; private set; }

        public long LastAck { get; private set; }

        public Exception? FailureBeforeKill => Volatile.Read(ref _failureBeforeKill);

        public override async Task HandleBasicDeliverAsync(string consumerTag, ulong deliveryTag, bool redelivered, string exchange, string routingKey, IReadOnlyBasicProperties properties, ReadOnlyMemory<byte> body, CancellationToken cancellationToken = default)
        {
            var id = properties.MessageId;
            ledger.RecordDelivery(cycle, id, redelivered, body.Span);
            Deliveries++;
            _unacked.Add(id ?? "(no id)");
            if (_unacked.Count < ackEvery || killed.HasExited)
            {
                // Deliveries still buffered here after the broker died are not acked: no ack could reach it,
                // so they stay owed (the strongest claim), rather than counted acked and excused.
                return;
            }

            foreach (var acked in _unacked)
            {
                ledger.RecordAck(acked, cycle);
            }

            Acked += _unacked.Count;
            LastAck = Stopwatch.GetTimestamp();
            _unacked.Clear();
            try
            {
                await Channel.BasicAckAsync(deliveryTag, multiple: ackEvery > 1, cancellationToken);
            }
            catch (Exception ex)
            {
                if (!killed.IsSet)
                {
                    Interlocked.CompareExchange(ref _failureBeforeKill, ex, null);
                }
            }
        }
    }

    /// <summary>The final drain: no-ack deliveries, each checked and recorded.</summary>
    private sealed class DrainConsumer(IChannel channel, CrashLedger ledger, int cycle, ConcurrentQueue<(string? Id, bool Redelivered)> drained) : AsyncDefaultBasicConsumer(channel)
    {
        private int _unacked;

        public override async Task HandleBasicDeliverAsync(string consumerTag, ulong deliveryTag, bool redelivered, string exchange, string routingKey, IReadOnlyBasicProperties properties, ReadOnlyMemory<byte> body, CancellationToken cancellationToken = default)
        {
            ledger.RecordDelivery(cycle, properties.MessageId, redelivered, body.Span);
            drained.Enqueue((properties.MessageId, redelivered));
            if (++_unacked >= DrainPrefetch / 2)
            {
                _unacked = 0;
                await Channel.BasicAckAsync(deliveryTag, multiple: true, cancellationToken);
            }
        }
    }
}
