using System.Buffers;
using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Holdfast.Amqp.Codec;
using Holdfast.Amqp.Framing;
using Holdfast.Conformance.Tests.Broker;
using Holdfast.Conformance.Tests.Support;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;
using Xunit.Abstractions;
using AmqpTimestamp = Holdfast.Amqp.Codec.AmqpTimestamp;
using BasicProperties = Holdfast.Amqp.Codec.BasicProperties;
using QueueDeclareOk = Holdfast.Amqp.Codec.QueueDeclareOk;

namespace Holdfast.Conformance.Tests.Amqp;

/// <summary>
/// Random and mutated frames from many sockets at once, before and after the handshake, while a well-behaved client
/// does real work on its own connection (durable queue, persistent messages, publisher confirms, manual acks). Most
/// hostile sessions are sequences over the whole broker (exchanges, queues, bindings, consumers, publishes with content,
/// acks, transactions, confirms), partly valid and partly mutated, reacting to what the broker answers (its delivery
/// tags, consumer tags, server-named queues, channel closes). The broker must neither fall over, nor hang, nor send
/// a malformed frame, nor let one connection's garbage touch another. Seeded: set HOLDFAST_FUZZ_SEED to replay the
/// same choices (what the broker has answered by the time a choice uses it can still differ from run to run).
/// </summary>
public sealed class FrameFuzzTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Budget = TimeSpan.FromSeconds(7);
    private const int Workers = 6;
    private const int MaxIterationsPerWorker = 400;

    /// <summary>
    /// A well-framed connection.close answered later than this is reported as slow (the broker's own close timeout is
    /// 1 s here); one not answered within <see cref="CloseHang"/> is a hang and fails the test.
    /// </summary>
    private static readonly TimeSpan CloseAnswer = TimeSpan.FromSeconds(2);

    private static readonly TimeSpan CloseHang = TimeSpan.FromSeconds(15);

    [Fact]
    public async Task Hostile_input_leaves_the_broker_up_and_other_connections_working()
    {
        int seed = int.TryParse(Environment.GetEnvironmentVariable("HOLDFAST_FUZZ_SEED"), out int fixedSeed) ? fixedSeed : Random.Shared.Next();
        output.WriteLine($"fuzz seed {seed} (replay with HOLDFAST_FUZZ_SEED={seed})");
        try
        {
            await RunAsync(seed, output);
        }
        catch (Exception ex)
        {
            throw new InvalidOperationException($"Fuzzing failed with seed {seed} (replay with HOLDFAST_FUZZ_SEED={seed}).", ex);
        }
    }

    private static async Task RunAsync(int seed, ITestOutputHelper output)
    {
        // Faults only the broker sees (an exception that dropped a connection, a delivery that could not be sent) are
        // findings too: the hostile client that caused one may just see its socket close, which is allowed.
        var faultLog = new FaultLog();
        await using var broker = await InProcessBroker.StartAsync(o => o with { HandshakeTimeout = TimeSpan.FromSeconds(2), CloseTimeout = TimeSpan.FromSeconds(1) }, faultLog);
        Assert.True(IPAddress.TryParse(broker.Host, out var address) && IPAddress.IsLoopback(address), $"raw-socket tests need a loopback broker, not {broker.Host}");
        await using var healthy = await broker.Factory().CreateConnectionAsync();
        var clock = Stopwatch.StartNew();
        var findings = new Findings();
        var stats = new Stats();

        var attackers = Enumerable.Range(0, Workers).Select(i => AttackAsync(broker.Port, i, new Random(seed + i), clock, findings, stats)).ToArray();
        WorkReport work;
        try
        {
            work = await HealthyWorkAsync(healthy, () => attackers.All(a => a.IsCompleted));
        }
        finally
        {
            // Never leave attackers running against a broker that is being disposed.
            await Task.WhenAll(attackers).ContinueWith(_ => { }, TaskScheduler.Default);
        }

        int iterations = (await Task.WhenAll(attackers)).Sum();
        output.WriteLine($"{iterations} hostile connections ({stats}) in {clock.Elapsed.TotalSeconds:F1} s; "
            + $"the healthy client had {work.Confirmed} persistent messages confirmed and consumed back "
            + $"(slowest confirm {work.SlowestConfirm.TotalMilliseconds:F0} ms) and opened {work.Rounds} channels");

        output.WriteLine("the broker answered them with " + string.Join(", ", stats.Answers.OrderByDescending(a => a.Value).Take(24).Select(a => $"{a.Key} x{a.Value}")));
        foreach (var slow in stats.SlowCloses.Take(5))
        {
            output.WriteLine(slow);
        }

        Assert.True(healthy.IsOpen, healthy.CloseReason?.ToString());
        Assert.True(iterations > 0);
        Assert.True(stats.Sessions > 0, "no hostile session got past the handshake");
        Assert.True(work.Confirmed >= 20, $"the healthy client got only {work.Confirmed} confirms in {Budget.TotalSeconds} s");
        Assert.True(work.Rounds > 0);

        // The checks below run even when the fuzzing found misbehaviour, so that one report says everything.
        var failures = new List<string>();
        async Task CheckAsync(string what, Func<Task> check)
        {
            try
            {
                await check();
            }
            catch (Exception ex) when (ex is Xunit.Sdk.XunitException or TimeoutException or RabbitMQ.Client.Exceptions.RabbitMQClientException or IOException)
            {
                failures.Add($"{what}: {ex.Message}");
            }
        }

        if (!broker.IsExternal)
        {
            // Every hostile connection is gone, and with it its exclusive queues, consumers and unacked deliveries.
            var vhost = broker.Server.Broker.GetVirtualHost("/");
            await CheckAsync("connections", () => EventuallyAsync(
                () => broker.Server.Amqp.ConnectionCount == 1,
                () => $"{broker.Server.Amqp.ConnectionCount} connections left, expected only the healthy one"));
            await CheckAsync("queues", () => EventuallyAsync(
                () => vhost.Queues.All(q => q.ExclusiveOwner is null && q.ConsumerCount == 0 && q.UnackedCount == 0),
                () => "queues keep an exclusive owner, a consumer or an unacked delivery of a closed connection: "
                    + string.Join(", ", vhost.Queues.Where(q => q.ExclusiveOwner is not null || q.ConsumerCount != 0 || q.UnackedCount != 0)
                        .Select(q => $"{q.Name} (owner {q.ExclusiveOwner}, {q.ConsumerCount} consumers, {q.UnackedCount} unacked)"))));
        }

        // The broker still does real work for a newcomer: declare, publish with a confirm, get.
        await using var late = await broker.Factory().CreateConnectionAsync();
        await CheckAsync("a new connection", () => BrokerKit.AssertUsableAsync(late));

        if (!broker.IsExternal)
        {
            // With every queue gone, no message body is still counted in memory. (Deleted through the broker itself: a
            // name a mutation made of invalid UTF-8 need not survive a trip through the client.)
            var vhost = broker.Server.Broker.GetVirtualHost("/");
            foreach (var queue in vhost.Queues.Select(q => q.Name).ToList())
            {
                await vhost.DeleteQueueAsync(queue, connectionId: 0, ifUnused: false, ifEmpty: false);
            }

            var memory = broker.Server.Broker.Memory;
            await CheckAsync("memory", () => EventuallyAsync(
                () => vhost.Queues.Count == 0 && memory.HeldBytes == 0,
                () => $"{memory.HeldBytes} bytes of message bodies still counted in memory with {vhost.Queues.Count} queues left"));
        }
        else
        {
            await using var lateChannel = await late.CreateChannelAsync();
            await lateChannel.QueueDeleteAsync(work.Queue);
            await lateChannel.CloseAsync();
        }

        foreach (var fault in faultLog.Faults)
        {
            findings.Add("the broker", fault, "logged at Error by the server");
        }

        if (!findings.IsEmpty)
        {
            failures.Insert(0, findings.ToString());
        }

        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    private static async Task EventuallyAsync(Func<bool> condition, Func<string> failure)
    {
        var waited = Stopwatch.StartNew();
        while (!condition())
        {
            Assert.True(waited.Elapsed < BrokerKit.Wait, $"not within {BrokerKit.Wait.TotalSeconds} s: {failure()}");
            await Task.Delay(20);
        }
    }

    private sealed record WorkReport(string Queue, int Confirmed, int Rounds, TimeSpan SlowestConfirm);

    /// <summary>
    /// The well-behaved client: persistent messages to a durable queue, each awaited until confirmed, and consumed back
    /// with manual acks on another channel, until the attackers are done; then every confirmed message must have arrived
    /// exactly once, in order, intact and not redelivered.
    /// </summary>
    private static async Task<WorkReport> HealthyWorkAsync(IConnection connection, Func<bool> done)
    {
        string queue = $"fuzz-healthy-{Guid.NewGuid():N}";
        await using var publisher = await connection.CreateChannelAsync(new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true));
        await publisher.QueueDeclareAsync(queue, durable: true, exclusive: false, autoDelete: false);

        await using var consuming = await connection.CreateChannelAsync();
        await consuming.BasicQosAsync(0, 64, false);
        var received = new List<(long Sequence, bool Redelivered, string? Problem)>();
        var consumer = new AsyncEventingBasicConsumer(consuming);
        consumer.ReceivedAsync += async (_, delivery) =>
        {
            long sequence = long.TryParse(delivery.BasicProperties.MessageId, NumberStyles.None, CultureInfo.InvariantCulture, out long s) ? s : -1;
            string? problem = sequence < 0 ? $"message-id '{delivery.BasicProperties.MessageId}'"
                : !delivery.Body.Span.SequenceEqual(HealthyBody(sequence)) ? $"body of {sequence} differs ({delivery.Body.Length} bytes)"
                : !delivery.BasicProperties.Persistent ? $"{sequence} lost its delivery mode"
                : delivery.BasicProperties.Headers?.TryGetValue("seq", out var header) != true || header is not long value || value != sequence ? $"{sequence} lost its header"
                : null;
            lock (received)
            {
                received.Add((sequence, delivery.Redelivered, problem));
            }

            await consuming.BasicAckAsync(delivery.DeliveryTag, multiple: false);
        };
        string consumerTag = await consuming.BasicConsumeAsync(queue, autoAck: false, consumer);

        int confirmed = 0;
        int rounds = 0;
        var slowest = TimeSpan.Zero;
        while (!done())
        {
            var properties = new RabbitMQ.Client.BasicProperties
            {
                Persistent = true,
                MessageId = confirmed.ToString(CultureInfo.InvariantCulture),
                Headers = new Dictionary<string, object?> { ["seq"] = (long)confirmed },
            };
            long started = Stopwatch.GetTimestamp();

            // With confirm tracking this completes on the broker's ack (and throws on a nack or a return).
            await publisher.BasicPublishAsync("", queue, mandatory: true, properties, HealthyBody(confirmed)).AsTask().WaitAsync(BrokerKit.Wait);
            var took = Stopwatch.GetElapsedTime(started);
            slowest = took > slowest ? took : slowest;
            confirmed++;

            // Channels still open and close, and see the queue, while the attackers work.
            if (confirmed % 16 == 0)
            {
                await using var channel = await connection.CreateChannelAsync();
                Assert.True(channel.IsOpen);
                var ok = await channel.QueueDeclarePassiveAsync(queue);
                Assert.Equal(1u, ok.ConsumerCount);
                Assert.True(ok.MessageCount <= (uint)confirmed, $"{ok.MessageCount} ready after {confirmed} published");
                await channel.CloseAsync();
                rounds++;
            }
        }

        int Count()
        {
            lock (received)
            {
                return received.Count;
            }
        }

        await EventuallyAsync(() => Count() >= confirmed, () => $"{confirmed} messages confirmed, {Count()} consumed (consuming channel open: {consuming.IsOpen} {consuming.CloseReason})");

        // A duplicate would follow close behind.
        await Task.Delay(100);
        await consuming.BasicCancelAsync(consumerTag);
        List<(long Sequence, bool Redelivered, string? Problem)> got;
        lock (received)
        {
            got = [.. received];
        }

        Assert.True(got.All(m => m.Problem is null), "damaged deliveries: " + string.Join("; ", got.Where(m => m.Problem is not null).Select(m => m.Problem).Take(10)));
        Assert.True(
            got.Select(m => m.Sequence).SequenceEqual(Enumerable.Range(0, confirmed).Select(i => (long)i)),
            $"{confirmed} confirmed, delivered {got.Count}: not exactly once in order; first out of place: "
                + string.Join(", ", got.Select((m, i) => (m.Sequence, i)).Where(p => p.Sequence != p.i).Take(10).Select(p => $"#{p.i} was {p.Sequence}")));
        Assert.True(got.All(m => !m.Redelivered), "a message was redelivered although nothing was requeued");
        Assert.True(consuming.IsOpen && publisher.IsOpen, $"{consuming.CloseReason} {publisher.CloseReason}");
        await consuming.CloseAsync();
        await publisher.CloseAsync();
        return new WorkReport(queue, confirmed, rounds, slowest);
    }

    /// <summary>The body of healthy message <paramref name="sequence"/>: mostly small, every 25th larger than a frame.</summary>
    private static byte[] HealthyBody(long sequence)
    {
        int length = sequence % 25 == 24 ? 140_000 + (int)(sequence % 1000) : (int)(sequence * 37 % 2048);
        var body = new byte[length];
        for (int i = 0; i < body.Length; i++)
        {
            body[i] = (byte)((sequence * 31) + (i * 7));
        }

        return body;
    }

    private static async Task<int> AttackAsync(int port, int worker, Random random, Stopwatch clock, Findings findings, Stats stats)
    {
        await Task.Yield();
        int iteration = 0;
        for (; iteration < MaxIterationsPerWorker && clock.Elapsed < Budget; iteration++)
        {
            try
            {
                switch (random.Next(10))
                {
                    case 0:
                        await GarbageBeforeHandshakeAsync(port, random);
                        break;
                    case 1:
                        await OneFrameBeforeHandshakeAsync(port, worker, random);
                        break;
                    default:
                        await SessionAsync(port, worker, iteration, random, clock, findings, stats);
                        break;
                }
            }
            catch (Exception ex) when (ex is SocketException or IOException or OperationCanceledException or InvalidOperationException or TimeoutException)
            {
                // The broker may hang up on us, or send a close we did not wait for: that is its right.
            }
        }

        return iteration;
    }

    private static async Task GarbageBeforeHandshakeAsync(int port, Random random)
    {
        await using var socket = await RawAmqpSocket.ConnectAsync(port);
        await socket.SendAsync(RandomBytes(random, random.Next(1, 64)));
        if (random.Next(2) == 0)
        {
            await socket.ReadToEndAsync(TimeSpan.FromMilliseconds(random.Next(10, 200)));
        }
    }

    /// <summary>The protocol header, then one frame from the whole vocabulary (mutated or not) where start-ok belongs.</summary>
    private static async Task OneFrameBeforeHandshakeAsync(int port, int worker, Random random)
    {
        await using var socket = await RawAmqpSocket.ConnectAsync(port);
        await socket.SendAsync(ProtocolHeader.Amqp091.ToArray());
        var vocabulary = new Vocabulary(random, worker, known: null, frameMax: 131072);
        var unit = random.Next(4) == 0 ? vocabulary.Handshake() : vocabulary.Next();
        await socket.SendAsync(random.Next(3) == 0 ? unit : Mutate(random, unit, out _));
        if (random.Next(2) == 0)
        {
            await socket.ReadToEndAsync(TimeSpan.FromMilliseconds(random.Next(10, 200)));
        }
    }

    /// <summary>
    /// An open connection that gets a sequence of frames: channels opened, then valid and mutated units from the
    /// vocabulary, sent in one write or several (some cut mid-frame), with pauses so that later units can use what the
    /// broker answered; channels the broker closes are mostly acknowledged and reopened. Ends abruptly or with
    /// connection.close, which a broker that was only ever sent well-framed input must answer.
    /// </summary>
    private static async Task SessionAsync(int port, int worker, int iteration, Random random, Stopwatch clock, Findings findings, Stats stats)
    {
        uint frameMax = random.Next(4) switch { 0 => 4096, 1 => 8192, _ => 131072 };
        ushort channelMax = random.Next(5) == 0 ? (ushort)4 : (ushort)2047;
        ushort heartbeat = random.Next(10) == 0 ? (ushort)1 : (ushort)0;
        var remaining = Budget - clock.Elapsed;
        using var deadline = new CancellationTokenSource((remaining > TimeSpan.Zero ? remaining : TimeSpan.Zero) + CloseHang + TimeSpan.FromSeconds(5));
        await using var connection = await FuzzConnection.OpenAsync(port, $"worker {worker} connection {iteration}", frameMax, channelMax, heartbeat, findings, stats, deadline.Token);
        stats.Session();

        // Half the sessions are gentle (valid frames on their own channels, garbage at most at the end), so that they live
        // long enough to reach consumers, deliveries, acks and transactions; the others are rougher, down to mostly garbage.
        int hostility = random.Next(10) switch { < 5 => 0, < 8 => 1, _ => 2 };
        int mutatePercent = hostility switch { 0 => 0, 1 => 12, _ => 30 };
        int channels = random.Next(1, 4);
        var vocabulary = new Vocabulary(random, worker, connection, frameMax, hostility, channels);
        bool wellFramed = true;
        var trace = new List<string>();

        var pending = new ArrayBufferWriter<byte>();
        async Task FlushAsync()
        {
            if (pending.WrittenCount == 0)
            {
                return;
            }

            var bytes = pending.WrittenMemory.ToArray();
            pending.Clear();
            if (bytes.Length > 1 && random.Next(4) == 0)
            {
                // Cut the write anywhere, frames and all.
                int cut = random.Next(1, bytes.Length);
                await connection.SendAsync(bytes.AsMemory(0, cut), deadline.Token);
                await Task.Delay(random.Next(0, 3), deadline.Token);
                await connection.SendAsync(bytes.AsMemory(cut), deadline.Token);
            }
            else
            {
                await connection.SendAsync(bytes, deadline.Token);
            }
        }

        for (ushort channel = 1; channel <= channels; channel++)
        {
            pending.Write(Frames.Method(channel, new ChannelOpen(ShortString.Empty)));
        }

        int steps = random.Next(4, 60);
        for (int step = 0; step < steps && clock.Elapsed < Budget && !connection.Ended && !connection.ServerClosedConnection; step++)
        {
            // Mostly behave when the broker closes a channel: close-ok, and usually open it again.
            while (connection.TryTakeClosedChannel(out ushort closed))
            {
                if (hostility == 0 || random.Next(8) != 0)
                {
                    pending.Write(Frames.Method(closed, new ChannelCloseOk()));
                    if (hostility == 0 || random.Next(4) != 0)
                    {
                        pending.Write(Frames.Method(closed, new ChannelOpen(ShortString.Empty)));
                    }
                }
            }

            byte[] unit = random.Next(5) == 0 ? vocabulary.Chain() : vocabulary.Next();
            int roll = random.Next(100);
            if (roll < mutatePercent)
            {
                unit = Mutate(random, unit, out bool intact);
                stats.Mutated();
                trace.Add((intact ? "mutated, still framed: " : "mutated: ") + Frames.Describe(unit));
            }
            else if (roll < mutatePercent + hostility)
            {
                unit = RandomBytes(random, random.Next(1, 300));
                wellFramed = false;
                stats.Mutated();
                trace.Add($"{unit.Length} random bytes");
            }
            else
            {
                stats.Valid();
                trace.Add(Frames.Describe(unit));
            }

            // Whatever a unit is (a chain may end in garbage), the broker can read all of it only if it is whole frames.
            wellFramed &= Frames.IsFramed(unit);
            pending.Write(unit);
            if (random.Next(3) == 0 || pending.WrittenCount > 64 * 1024)
            {
                await FlushAsync();
            }

            if (random.Next(5) == 0)
            {
                // Let the broker answer, so that later units can use its tags, queues and channel closes.
                await FlushAsync();
                await Task.Delay(random.Next(1, 8), deadline.Token);
            }
        }

        if (hostility == 0 && random.Next(2) == 0 && !connection.Ended)
        {
            // A gentle session that did real work ends in garbage.
            var garbage = Mutate(random, vocabulary.Next(), out bool intact);
            trace.Add((intact ? "mutated, still framed: " : "mutated: ") + Frames.Describe(garbage));
            wellFramed &= Frames.IsFramed(garbage);
            stats.Mutated();
            pending.Write(garbage);
        }

        await FlushAsync();
        if (random.Next(4) == 0)
        {
            // Hang up without a word, perhaps mid-frame or mid-content.
            return;
        }

        if (connection.ServerClosedConnection && random.Next(4) != 0)
        {
            await connection.SendAsync(Frames.Method(0, new ConnectionCloseOk()), deadline.Token);
        }
        else
        {
            await connection.SendAsync(Frames.Method(0, new ConnectionClose(200, "fuzz done", 0, 0)), deadline.Token);
        }

        // A broker that was only ever sent well-framed input has read all of it, so it must answer the close (close-ok),
        // have closed the connection itself (connection.close) or hung up, within its close timeout.
        long closing = Stopwatch.GetTimestamp();
        bool answered = await connection.ClosingAsync(wellFramed ? CloseHang : TimeSpan.FromMilliseconds(random.Next(0, 300)));
        var took = Stopwatch.GetElapsedTime(closing);
        string Story() => $"(frame-max {frameMax}, channel-max {channelMax}, heartbeat {heartbeat}). Sent, after the handshake: {string.Join(" | ", trace)}. Last received: {connection.LastReceived()}";
        if (wellFramed && !answered)
        {
            findings.Add(connection.Name, $"no close-ok, connection.close or hang-up within {CloseHang.TotalSeconds} s of connection.close after only well-framed input", Story());
        }
        else if (wellFramed && took > CloseAnswer)
        {
            stats.SlowClose($"{connection.Name}: connection.close answered after {took.TotalSeconds:F1} s {Story()}");
        }
    }

    /// <summary>
    /// Misbehaviour seen from the outside: broken frames from the broker, broken state machines, hangs. Reported by kind
    /// (the text with numbers blanked), each with a count and its first full example.
    /// </summary>
    private sealed class Findings
    {
        private readonly ConcurrentDictionary<string, (int Count, string Example)> _kinds = new();

        public bool IsEmpty => _kinds.IsEmpty;

        /// <param name="who">The hostile connection, left out of the kind.</param>
        /// <param name="what">What happened; digits are blanked to make the kind.</param>
        /// <param name="context">What led to it (frames sent or received), left out of the kind.</param>
        public void Add(string who, string what, string context)
        {
            string kind = System.Text.RegularExpressions.Regex.Replace(what, "[0-9]+", "#");
            _kinds.AddOrUpdate(kind, _ => (1, $"{who}: {what}; {context}"), (_, seen) => (seen.Count + 1, seen.Example));
        }

        public override string ToString() =>
            $"{_kinds.Values.Sum(k => k.Count)} broker misbehaviours of {_kinds.Count} kinds:\n"
            + string.Join('\n', _kinds.OrderByDescending(k => k.Value.Count).Select(k => $"- x{k.Value.Count} {k.Key}\n    first: {k.Value.Example}"));
    }

    private sealed class Stats
    {
        private int _sessions;
        private int _valid;
        private int _mutated;

        public int Sessions => Volatile.Read(ref _sessions);

        public void Session() => Interlocked.Increment(ref _sessions);

        public void Valid() => Interlocked.Increment(ref _valid);

        public void Mutated() => Interlocked.Increment(ref _mutated);

        /// <summary>Closes answered, but slowly: not a failure on a loaded machine, but worth a look.</summary>
        public ConcurrentQueue<string> SlowCloses { get; } = new();

        public void SlowClose(string story) => SlowCloses.Enqueue(story);

        /// <summary>How often the broker sent each method (and content frames) to the hostile sessions: how deep they reached.</summary>
        public ConcurrentDictionary<string, int> Answers { get; } = new();

        public void Received(string frame) => Answers.AddOrUpdate(frame, 1, static (_, n) => n + 1);

        public override string ToString() => $"{Sessions} past the handshake, {Volatile.Read(ref _valid)} valid and {Volatile.Read(ref _mutated)} mutated units, {SlowCloses.Count} slow closes";
    }

    /// <summary>What a session can reuse from the broker's answers.</summary>
    private interface IKnown
    {
        string? Queue(int draw);

        string? ConsumerTag(int draw);

        /// <summary>A delivery tag the broker gave on <paramref name="channel"/> and that has not been settled yet (then it is taken).</summary>
        ulong? TakeDeliveryTag(ushort channel, int draw);
    }

    /// <summary>
    /// A raw connection that reads everything the broker sends on a background loop, checks every frame (well formed,
    /// a method the server may send, content in sequence, tags in order, silence after a close) and remembers what a
    /// session can reuse.
    /// </summary>
    private sealed class FuzzConnection : IKnown, IAsyncDisposable
    {
        private static readonly HashSet<AmqpMethodId> s_serverMethods =
        [
            AmqpMethodId.ConnectionStart, AmqpMethodId.ConnectionSecure, AmqpMethodId.ConnectionTune, AmqpMethodId.ConnectionOpenOk,
            AmqpMethodId.ConnectionClose, AmqpMethodId.ConnectionCloseOk, AmqpMethodId.ConnectionBlocked, AmqpMethodId.ConnectionUnblocked,
            AmqpMethodId.ConnectionUpdateSecretOk, AmqpMethodId.ChannelOpenOk, AmqpMethodId.ChannelFlow, AmqpMethodId.ChannelFlowOk,
            AmqpMethodId.ChannelClose, AmqpMethodId.ChannelCloseOk, AmqpMethodId.AccessRequestOk, AmqpMethodId.ExchangeDeclareOk,
            AmqpMethodId.ExchangeDeleteOk, AmqpMethodId.ExchangeBindOk, AmqpMethodId.ExchangeUnbindOk, AmqpMethodId.QueueDeclareOk,
            AmqpMethodId.QueueBindOk, AmqpMethodId.QueuePurgeOk, AmqpMethodId.QueueDeleteOk, AmqpMethodId.QueueUnbindOk,
            AmqpMethodId.BasicQosOk, AmqpMethodId.BasicConsumeOk, AmqpMethodId.BasicCancel, AmqpMethodId.BasicCancelOk,
            AmqpMethodId.BasicReturn, AmqpMethodId.BasicDeliver, AmqpMethodId.BasicGetOk, AmqpMethodId.BasicGetEmpty,
            AmqpMethodId.BasicAck, AmqpMethodId.BasicNack, AmqpMethodId.BasicRecoverOk, AmqpMethodId.TxSelectOk,
            AmqpMethodId.TxCommitOk, AmqpMethodId.TxRollbackOk, AmqpMethodId.ConfirmSelectOk,
        ];

        private readonly Socket _socket;
        private readonly Findings _findings;
        private readonly CancellationTokenSource _stop = new();
        private readonly TaskCompletionSource _closing = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly object _gate = new();
        private readonly Dictionary<ushort, ChannelView> _channels = [];
        private readonly Queue<ushort> _closedByServer = new();
        private readonly List<string> _queues = [];
        private readonly List<string> _consumerTags = [];
        private readonly Queue<string> _received = new();
        private readonly Stats _stats;
        private readonly byte[] _receive = new byte[64 * 1024];
        private byte[] _buffer = new byte[128 * 1024];
        private int _buffered;
        private uint _frameMax = 131072;
        private Task _reader = Task.CompletedTask;
        private bool _ended;
        private bool _serverClosed;
        private string? _serverCloseReason;

        private FuzzConnection(Socket socket, string name, Findings findings, Stats stats)
        {
            _stats = stats;
            _socket = socket;
            Name = name;
            _findings = findings;
        }

        public string Name { get; }

        public bool Ended
        {
            get
            {
                lock (_gate)
                {
                    return _ended;
                }
            }
        }

        public bool ServerClosedConnection
        {
            get
            {
                lock (_gate)
                {
                    return _serverClosed;
                }
            }
        }

        /// <summary>Connects and does a well-formed handshake, which the broker must complete; then starts reading.</summary>
        public static async Task<FuzzConnection> OpenAsync(int port, string name, uint frameMax, ushort channelMax, ushort heartbeat, Findings findings, Stats stats, CancellationToken cancellationToken)
        {
            var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            var connection = new FuzzConnection(socket, name, findings, stats);
            try
            {
                await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port), cancellationToken);
                using var handshake = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                handshake.CancelAfter(BrokerKit.Wait);
                try
                {
                    await connection.SendAsync(ProtocolHeader.Amqp091.ToArray(), handshake.Token);
                    await connection.ExpectAsync(AmqpMethodId.ConnectionStart, handshake.Token);
                    var capabilities = new FieldTable(
                        new FieldTableEntry("authentication_failure_close", FieldValue.FromBoolean(true)),
                        new FieldTableEntry("consumer_cancel_notify", FieldValue.FromBoolean(true)),
                        new FieldTableEntry("connection.blocked", FieldValue.FromBoolean(true)));
                    var properties = new FieldTable(new FieldTableEntry("capabilities", FieldValue.FromTable(capabilities)));
                    var bytes = new ArrayBufferWriter<byte>();
                    bytes.Write(Frames.Method(0, new ConnectionStartOk(properties, "PLAIN", new LongString("\0guest\0guest"u8.ToArray()), "en_US")));
                    await connection.SendAsync(bytes.WrittenMemory, handshake.Token);
                    await connection.ExpectAsync(AmqpMethodId.ConnectionTune, handshake.Token);
                    connection._frameMax = frameMax;
                    bytes.Clear();
                    bytes.Write(Frames.Method(0, new ConnectionTuneOk(channelMax, frameMax, heartbeat)));
                    bytes.Write(Frames.Method(0, new ConnectionOpen("/", ShortString.Empty, false)));
                    await connection.SendAsync(bytes.WrittenMemory, handshake.Token);
                    await connection.ExpectAsync(AmqpMethodId.ConnectionOpenOk, handshake.Token);
                }
                catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
                {
                    findings.Add(name, "a well-formed handshake failed", $"{ex.GetType().Name}: {ex.Message}");
                    throw;
                }

                connection._reader = Task.Run(connection.ReceiveLoopAsync, CancellationToken.None);
                return connection;
            }
            catch
            {
                await connection.DisposeAsync();
                throw;
            }
        }

        public async Task SendAsync(ReadOnlyMemory<byte> bytes, CancellationToken cancellationToken)
        {
            while (!bytes.IsEmpty)
            {
                int sent = await _socket.SendAsync(bytes, SocketFlags.None, cancellationToken);
                bytes = bytes[sent..];
            }
        }

        /// <summary>Waits until the broker has answered a close (close-ok or its own connection.close) or hung up.</summary>
        public async Task<bool> ClosingAsync(TimeSpan timeout)
        {
            try
            {
#pragma warning disable VSTHRD003 // Our own TaskCompletionSource, completed by the read loop.
                await _closing.Task.WaitAsync(timeout);
#pragma warning restore VSTHRD003
                return true;
            }
            catch (TimeoutException)
            {
                return false;
            }
        }

        public bool TryTakeClosedChannel(out ushort channel)
        {
            lock (_gate)
            {
                return _closedByServer.TryDequeue(out channel);
            }
        }

        public string? Queue(int draw)
        {
            lock (_gate)
            {
                return _queues.Count == 0 ? null : _queues[draw % _queues.Count];
            }
        }

        public string? ConsumerTag(int draw)
        {
            lock (_gate)
            {
                return _consumerTags.Count == 0 ? null : _consumerTags[draw % _consumerTags.Count];
            }
        }

        public ulong? TakeDeliveryTag(ushort channel, int draw)
        {
            lock (_gate)
            {
                if (!_channels.TryGetValue(channel, out var view) || view.Unsettled.Count == 0)
                {
                    return null;
                }

                int index = draw % view.Unsettled.Count;
                ulong tag = view.Unsettled[index];
                view.Unsettled.RemoveAt(index);
                return tag;
            }
        }

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            _socket.Dispose();
            try
            {
#pragma warning disable VSTHRD003 // Our own read loop, started by OpenAsync.
                await _reader;
#pragma warning restore VSTHRD003
            }
            catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
            {
            }

            _stop.Dispose();
        }

        private async Task ExpectAsync(AmqpMethodId expected, CancellationToken cancellationToken)
        {
            while (true)
            {
                if (TryCut(out var type, out ushort channel, out var payload))
                {
                    if (type == FrameType.Heartbeat)
                    {
                        continue;
                    }

                    var id = payload.Length >= 4 ? (AmqpMethodId)BinaryPrimitives.ReadUInt32BigEndian(payload.Span) : default;
                    if (type != FrameType.Method || channel != 0 || id != expected)
                    {
                        throw new InvalidOperationException($"expected {AmqpMethodInfo.Name(expected)}, got {type} {AmqpMethodInfo.Name(id)} on channel {channel}");
                    }

                    return;
                }

                int read = await _socket.ReceiveAsync(_receive, SocketFlags.None, cancellationToken);
                if (read == 0)
                {
                    throw new InvalidOperationException($"the broker hung up; expected {AmqpMethodInfo.Name(expected)}");
                }

                Append(read);
            }
        }

        private async Task ReceiveLoopAsync()
        {
            try
            {
                while (true)
                {
                    while (TryCut(out var type, out ushort channel, out var payload))
                    {
                        lock (_gate)
                        {
                            Observe(type, channel, payload);
                        }
                    }

                    int read = await _socket.ReceiveAsync(_receive, SocketFlags.None, _stop.Token);
                    if (read == 0)
                    {
                        break;
                    }

                    Append(read);
                }
            }
            catch (InvalidDataException ex)
            {
                _findings.Add(Name, ex.Message, $"last received: {LastReceived()}");
            }
            catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                // We hung up, or the broker reset the connection.
            }
            finally
            {
                lock (_gate)
                {
                    _ended = true;
                }

                _closing.TrySetResult();
            }
        }

        private void Append(int read)
        {
            if (_buffered + read > _buffer.Length)
            {
                Array.Resize(ref _buffer, Math.Max(_buffer.Length * 2, _buffered + read));
            }

            _receive.AsSpan(0, read).CopyTo(_buffer.AsSpan(_buffered));
            _buffered += read;
        }

        /// <summary>The next whole frame in the buffer; a frame the codec refuses is a broker bug.</summary>
        private bool TryCut(out FrameType type, out ushort channel, out ReadOnlyMemory<byte> payload)
        {
            var reader = new SequenceReader<byte>(new ReadOnlySequence<byte>(_buffer, 0, _buffered));
            var status = FrameReader.TryReadFrame(ref reader, _frameMax, out var frame, out var error);
            if (status == FrameReadStatus.Error)
            {
                throw new InvalidDataException($"the broker sent a broken frame (frame-max {_frameMax}): {error}");
            }

            if (status == FrameReadStatus.NeedMoreData)
            {
                (type, channel, payload) = (default, 0, default);
                return false;
            }

            (type, channel, payload) = (frame.Type, frame.Channel, frame.Payload.ToArray());
            int consumed = (int)reader.Consumed;
            _buffer.AsSpan(consumed, _buffered - consumed).CopyTo(_buffer);
            _buffered -= consumed;
            return true;
        }

        private ChannelView View(ushort channel)
        {
            if (!_channels.TryGetValue(channel, out var view))
            {
                view = new ChannelView();
                _channels.Add(channel, view);
            }

            return view;
        }

        private void Find(string what) => _findings.Add(Name, what, $"last received: {string.Join(", ", _received)}");

        /// <summary>The broker's last few frames, oldest first.</summary>
        public string LastReceived()
        {
            lock (_gate)
            {
                return string.Join(", ", _received);
            }
        }

        /// <summary>Checks one frame from the broker against the protocol and what came before it (under the gate).</summary>
        private void Observe(FrameType type, ushort channel, ReadOnlyMemory<byte> payload)
        {
            string frameName = type == FrameType.Method && payload.Length >= 4
                ? AmqpMethodInfo.Name((AmqpMethodId)BinaryPrimitives.ReadUInt32BigEndian(payload.Span))
                : $"{type} frame";
            _received.Enqueue($"{frameName}(ch{channel})");
            _stats.Received(frameName);
            if (_received.Count > 12)
            {
                _received.Dequeue();
            }
            if (_serverClosed && type != FrameType.Heartbeat && frameName != "connection.close-ok")
            {
                Find($"{frameName} on channel {channel} after the broker's connection.close ({_serverCloseReason})");
            }

            if (type == FrameType.Heartbeat)
            {
                if (channel != 0 || payload.Length != 0)
                {
                    Find($"heartbeat on channel {channel} with {payload.Length} payload bytes");
                }

                return;
            }

            if (channel == 0 && type != FrameType.Method)
            {
                Find($"{frameName} on channel 0");
                return;
            }

            var view = channel == 0 ? null : View(channel);

            // After its channel.close the broker may send only close-ok (to a close of ours that crossed it), or
            // open-ok once we have answered and reopened the channel.
            if (view is { ServerClosing: true } && frameName is not ("channel.close-ok" or "channel.open-ok"))
            {
                Find($"{frameName} on channel {channel} after the broker's channel.close");
            }

            // Content: header right after its method, then bodies adding up to its size, nothing else in between.
            if (type == FrameType.Header)
            {
                if (view is not { ContentMethod: not null, ExpectHeader: true })
                {
                    Find($"a content header on channel {channel} without a content method before it");
                    return;
                }

                if (!ContentHeader.TryDecode(payload, out var header, out var headerError))
                {
                    Find($"an undecodable content header after {view.ContentMethod} on channel {channel}: {headerError}");
                    return;
                }

                view.ExpectHeader = false;
                view.BodyRemaining = header.BodySize;
                if (view.BodyRemaining == 0)
                {
                    view.ContentMethod = null;
                }

                return;
            }

            if (type == FrameType.Body)
            {
                if (view is not { ContentMethod: not null, ExpectHeader: false } || (ulong)payload.Length > view.BodyRemaining || payload.Length == 0)
                {
                    Find($"a {payload.Length}-byte body frame on channel {channel} outside a content or beyond its size");
                    return;
                }

                view.BodyRemaining -= (ulong)payload.Length;
                if (view.BodyRemaining == 0)
                {
                    view.ContentMethod = null;
                }

                return;
            }

            if (view is { ContentMethod: not null })
            {
                Find($"{frameName} on channel {channel} in the middle of the content of {view.ContentMethod}");
                view.ContentMethod = null;
            }

            if (!AmqpMethodDecoder.TryDecode(payload, out var method, out var error))
            {
                Find($"an undecodable method on channel {channel}: {error}");
                return;
            }

            if (!s_serverMethods.Contains(method.Id))
            {
                Find($"{frameName} on channel {channel}, which only a client sends");
            }

            if ((AmqpMethodInfo.ClassIdOf(method.Id) == (ushort)AmqpClassId.Connection) != (channel == 0))
            {
                Find($"{frameName} on channel {channel}");
                return;
            }

            if (AmqpMethodInfo.HasContent(method.Id))
            {
                view!.ContentMethod = frameName;
                view.ExpectHeader = true;
            }

            switch (method)
            {
                case ConnectionClose connectionClose:
                    _stats.Received($"{frameName} {connectionClose.ReplyCode}");
                    _serverClosed = true;
                    _serverCloseReason = connectionClose.ReplyText.ToString();
                    _closing.TrySetResult();
                    break;
                case ConnectionCloseOk:
                    _closing.TrySetResult();
                    break;
                case ChannelOpenOk:
                    _channels[channel] = new ChannelView { Open = true };
                    break;
                case ChannelClose channelClose:
                    _stats.Received($"{frameName} {channelClose.ReplyCode}");
                    view!.ServerClosing = true;
                    view.Open = false;
                    _closedByServer.Enqueue(channel);
                    break;
                case ChannelCloseOk:
                    _channels[channel] = new ChannelView();
                    break;
                case QueueDeclareOk declared:
                    RememberBounded(_queues, declared.Queue.ToString());
                    break;
                case BasicConsumeOk consuming:
                    RememberBounded(_consumerTags, consuming.ConsumerTag.ToString());
                    break;
                case BasicDeliver deliver:
                    Delivered(view!, channel, frameName, deliver.DeliveryTag);
                    break;
                case BasicGetOk getOk:
                    Delivered(view!, channel, frameName, getOk.DeliveryTag);
                    break;
                case BasicAck ack:
                    Confirmed(view!, channel, frameName, ack.DeliveryTag);
                    break;
                case BasicNack nack:
                    Confirmed(view!, channel, frameName, nack.DeliveryTag);
                    break;
            }

            if (view is { Open: false } && method is BasicDeliver or BasicGetOk or BasicGetEmpty or BasicAck or BasicNack or BasicReturn or BasicCancel)
            {
                Find($"{frameName} on channel {channel}, which is not open");
            }
        }

        private void Delivered(ChannelView view, ushort channel, string frameName, ulong tag)
        {
            if (tag <= view.LastDeliveryTag)
            {
                Find($"{frameName} on channel {channel} with delivery tag {tag} after {view.LastDeliveryTag}");
            }

            view.LastDeliveryTag = tag;
            view.Unsettled.Add(tag);
            if (view.Unsettled.Count > 64)
            {
                view.Unsettled.RemoveAt(0);
            }
        }

        private void Confirmed(ChannelView view, ushort channel, string frameName, ulong tag)
        {
            if (tag <= view.LastConfirm)
            {
                Find($"{frameName} on channel {channel} confirms {tag} after {view.LastConfirm}: confirms go in sequence order, once each");
            }

            view.LastConfirm = Math.Max(view.LastConfirm, tag);
        }

        private static void RememberBounded(List<string> list, string value)
        {
            if (!list.Contains(value))
            {
                list.Add(value);
                if (list.Count > 16)
                {
                    list.RemoveAt(0);
                }
            }
        }

        private sealed class ChannelView
        {
            public bool Open { get; set; }

            public bool ServerClosing { get; set; }

            public ulong LastDeliveryTag { get; set; }

            public ulong LastConfirm { get; set; }

            public List<ulong> Unsettled { get; } = [];

            /// <summary>The content-carrying method whose header or body frames are due, or null.</summary>
            public string? ContentMethod { get; set; }

            public bool ExpectHeader { get; set; }

            public ulong BodyRemaining { get; set; }
        }
    }

    /// <summary>Frames as bytes, written with a frame-max large enough that oversized ones are possible.</summary>
    private static class Frames
    {
        public const uint Unlimited = 1 << 24;

        public static byte[] Method<TMethod>(ushort channel, TMethod method)
            where TMethod : struct, IAmqpMethod => Write(o => FrameWriter.WriteMethod(o, channel, method, Unlimited));

        public static byte[] Write(Action<ArrayBufferWriter<byte>> write)
        {
            var output = new ArrayBufferWriter<byte>();
            write(output);
            return output.WrittenSpan.ToArray();
        }

        /// <summary>A frame of any type around any payload, framed correctly.</summary>
        public static byte[] Raw(FrameType type, ushort channel, ReadOnlySpan<byte> payload)
        {
            var frame = new byte[AmqpFrame.OverheadLength + payload.Length];
            frame[0] = (byte)type;
            BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(1), channel);
            BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(3), (uint)payload.Length);
            payload.CopyTo(frame.AsSpan(AmqpFrame.HeaderLength));
            frame[^1] = AmqpConstants.FrameEnd;
            return frame;
        }

        /// <summary>A method frame with the given ids and argument bytes, whatever they are.</summary>
        public static byte[] RawMethod(ushort channel, uint id, ReadOnlySpan<byte> arguments)
        {
            var payload = new byte[4 + arguments.Length];
            BinaryPrimitives.WriteUInt32BigEndian(payload, id);
            arguments.CopyTo(payload.AsSpan(4));
            return Raw(FrameType.Method, channel, payload);
        }

        /// <summary>A short account of the frames in a unit, for reports: "queue.declare(ch1) header(ch1) 2 x body(ch1)".</summary>
        public static string Describe(byte[] unit)
        {
            var parts = new List<string>();
            var spans = Spans(unit);
            foreach (var (start, length) in spans)
            {
                var type = (FrameType)unit[start];
                ushort channel = BinaryPrimitives.ReadUInt16BigEndian(unit.AsSpan(start + 1));
                string name = type == FrameType.Method && length >= AmqpFrame.OverheadLength + 4
                    ? AmqpMethodInfo.Name((AmqpMethodId)BinaryPrimitives.ReadUInt32BigEndian(unit.AsSpan(start + AmqpFrame.HeaderLength)))
                    : type is FrameType.Header or FrameType.Body or FrameType.Heartbeat ? type.ToString().ToLowerInvariant() : $"type-{(byte)type}";
                string part = $"{name}(ch{channel}, {length - AmqpFrame.OverheadLength} B)";
                if (parts.Count > 0 && parts[^1].EndsWith(part, StringComparison.Ordinal) && type == FrameType.Body)
                {
                    continue;
                }

                parts.Add(part);
            }

            int framed = spans.Count == 0 ? 0 : spans[^1].Start + spans[^1].Length;
            if (framed < unit.Length)
            {
                parts.Add($"{unit.Length - framed} unframed bytes");
            }

            return string.Join(" ", parts);
        }

        /// <summary>True when <paramref name="unit"/> is nothing but whole frames (each with its size and frame-end right).</summary>
        public static bool IsFramed(byte[] unit)
        {
            var spans = Spans(unit);
            return spans.Count > 0 && spans[^1].Start + spans[^1].Length == unit.Length;
        }

        /// <summary>(start, length) of each frame in bytes we framed ourselves; stops at anything that is not a frame.</summary>
        public static List<(int Start, int Length)> Spans(byte[] unit)
        {
            var spans = new List<(int, int)>();
            for (int offset = 0; offset + AmqpFrame.OverheadLength <= unit.Length;)
            {
                long length = AmqpFrame.OverheadLength + (long)BinaryPrimitives.ReadUInt32BigEndian(unit.AsSpan(offset + 3));
                if (offset + length > unit.Length || unit[offset + (int)length - 1] != AmqpConstants.FrameEnd)
                {
                    break;
                }

                spans.Add((offset, (int)length));
                offset += (int)length;
            }

            return spans;
        }
    }

    /// <summary>
    /// Units a client can send over the whole broker, valid in form and mostly in meaning: each a frame or a few
    /// (a publish with its content, a chain such as declare, bind, consume, publish, ack). Names come from pools shared
    /// by all workers (so connections contend), from the worker's own pool, and from what the broker answered.
    /// </summary>
    private sealed class Vocabulary(Random random, int worker, IKnown? known, uint frameMax, int hostility = 2, int openChannels = 3)
    {
        private static readonly string[] s_exchangeKinds = ["direct", "fanout", "topic", "headers"];
        private static readonly string[] s_exchangeTypes = ["direct", "fanout", "topic", "headers", "direct", "topic", "x-bogus", "", "x-consistent-hash", "DIRECT"];
        private static readonly string[] s_systemExchanges = ["", "amq.direct", "amq.fanout", "amq.topic", "amq.headers", "amq.match"];
        private static readonly string[] s_words = ["a", "b", "c", "stock", "usd", "*", "#", "", "nyse", "x.y", "ünï", "#.#", "*.*"];
        private static readonly string[] s_headerNames = ["x-match", "a", "b", "color", "size", "x-death", "x-first-death-queue", "seq", ""];
        private static readonly byte[][] s_deepTables = [DeepTable(65, 'F'), DeepTable(200, 'F'), DeepTable(450, 'A'), DeepTable(64, 'F')];

        private int _tags;

        /// <summary>A frame from before the connection is open: start-ok variants, tune-ok, open, close.</summary>
        public byte[] Handshake() => random.Next(6) switch
        {
            0 => Frames.Method(0, new ConnectionStartOk(Table(2), Pick("PLAIN", "AMQPLAIN", "EXTERNAL", ""), new LongString(Encoding.UTF8.GetBytes(Pick("\0guest\0guest", "\0guest\0wrong", "", "\0\0"))), "en_US")),
            1 => Frames.Method(0, new ConnectionTuneOk((ushort)random.Next(0, 3000), (uint)random.Next(0, 200_000), (ushort)random.Next(0, 3))),
            2 => Frames.Method(0, new ConnectionOpen(Pick("/", "nope", ""), ShortString.Empty, random.Next(2) == 0)),
            3 => Frames.Method(0, new ConnectionClose(200, "bye", 0, 0)),
            4 => Frames.Write(o => FrameWriter.WriteHeartbeat(o)),
            _ => Frames.Method(0, new ConnectionSecureOk(new LongString(RandomBytes(random, random.Next(0, 40))))),
        };

        /// <summary>One unit: a method, a publish with content, or odd content and connection-level frames.</summary>
        public byte[] Next()
        {
            ushort ch = Channel();
            bool nowait = random.Next(6) == 0;
            int pick = random.Next(36);

            // Gentle sessions skip the units that end a connection (odd content, connection-level methods, garbage methods).
            if (hostility == 0 && pick >= 28)
            {
                pick = random.Next(28);
            }

            switch (pick)
            {
                case 0:
                case 1:
                    return DeclareExchange(ch, ExchangeName(), Pick(s_exchangeTypes), nowait);
                case 2:
                    return Frames.Method(ch, new ExchangeDelete(0, ExchangeName(), IfUnused: random.Next(2) == 0, nowait));
                case 3:
                    return Frames.Method(ch, new ExchangeBind(0, ExchangeName(), ExchangeName(), RoutingKey(), nowait, BindingArguments()));
                case 4:
                    return Frames.Method(ch, new ExchangeUnbind(0, ExchangeName(), ExchangeName(), RoutingKey(), nowait, BindingArguments()));
                case 5:
                case 6:
                    return DeclareQueue(ch, QueueNameForDeclare(), nowait);
                case 7:
                case 8:
                    return Frames.Method(ch, new QueueBind(0, QueueName(), ExchangeName(), RoutingKey(), nowait, BindingArguments()));
                case 9:
                    return Frames.Method(ch, new QueueUnbind(0, QueueName(), ExchangeName(), RoutingKey(), BindingArguments()));
                case 10:
                    return Frames.Method(ch, new QueuePurge(0, QueueName(), nowait));
                case 11:
                    return Frames.Method(ch, new QueueDelete(0, QueueName(), IfUnused: random.Next(3) == 0, IfEmpty: random.Next(3) == 0, nowait));
                case 12:
                    return Frames.Method(ch, new BasicQos(
                        random.Next(5) == 0 ? (uint)random.Next() : 0,
                        (ushort)Pick(0, 1, 2, 5, 100, 65535, random.Next(0, 65536)),
                        random.Next(3) == 0));
                case 13:
                case 14:
                    return Consume(ch, QueueName(), nowait);
                case 15:
                    return Frames.Method(ch, new BasicCancel(known?.ConsumerTag(random.Next()) ?? ConsumerTagName(), nowait));
                case 16:
                    return Frames.Method(ch, new BasicGet(0, QueueName(), NoAck: random.Next(3) == 0));
                case 17:
                case 18:
                    {
                        ulong tag = DeliveryTag(ch);
                        return Frames.Method(ch, new BasicAck(tag, Multiple: random.Next(4) == 0 || (tag == 0 && hostility == 0)));
                    }

                case 19:
                    {
                        ulong tag = DeliveryTag(ch);
                        return Frames.Method(ch, new BasicNack(tag, Multiple: random.Next(4) == 0 || (tag == 0 && hostility == 0), Requeue: random.Next(2) == 0));
                    }

                case 20:
                    {
                        ulong tag = DeliveryTag(ch);
                        return tag == 0 && hostility == 0
                            ? Frames.Method(ch, new BasicRecover(Requeue: true))
                            : Frames.Method(ch, new BasicReject(tag, Requeue: random.Next(2) == 0));
                    }
                case 21:
                    return random.Next(2) == 0 ? Frames.Method(ch, new BasicRecover(random.Next(2) == 0)) : Frames.Method(ch, new BasicRecoverAsync(random.Next(2) == 0));
                case 22 when hostility == 0 && ch != 2:
                case 23 when hostility == 0 && ch != 1:
                    return Frames.Method(ch, new BasicQos(0, (ushort)random.Next(0, 10), false));
                case 22:
                    return random.Next(3) switch
                    {
                        0 => Frames.Method(ch, new TxSelect()),
                        1 => Frames.Method(ch, new TxCommit()),
                        _ => Frames.Method(ch, new TxRollback()),
                    };
                case 23:
                    return Frames.Method(ch, new ConfirmSelect(nowait));
                case 24:
                case 25:
                case 26:
                case 27:
                    return Publish(ch, PublishExchange(), RoutingKey(), Properties(), Body());
                case 28:
                case 29:
                    return OddContent(ch);
                case 30:
                    return random.Next(5) switch
                    {
                        0 => Frames.Method(ch, new ChannelFlow(random.Next(2) == 0)),
                        1 => Frames.Method(ch, new ChannelOpen(ShortString.Empty)),
                        2 => Frames.Method(ch, new ChannelClose(200, "fuzz", 0, 0)),
                        3 => Frames.Method(ch, new ChannelCloseOk()),
                        _ => Frames.Method(ch, new ChannelFlowOk(random.Next(2) == 0)),
                    };
                case 31:
                    return ConnectionLevel();
                case 32:
                    // A well-framed method with ids no one defined, or a defined one whose arguments are cut or padded.
                    return random.Next(3) switch
                    {
                        0 => Frames.RawMethod(ch, (uint)random.Next(), RandomBytes(random, random.Next(0, 40))),
                        1 => Frames.RawMethod(ch, Pick(0x003C0028u, 0x0032000Au, 0x0028000Au, 0x0014000Au, 0x005A000Au, 0x0055000Au, 0x001E000Au), RandomBytes(random, random.Next(0, 12))),
                        _ => Padded(Frames.Method(ch, new QueueDeclare(0, QueueNameForDeclare(), false, false, false, false, false, FieldTable.Empty))),
                    };
                case 33:
                    // Arguments nested deeper than the codec allows (a recursion that must be refused, not overflow the stack).
                    return DeeplyNested(ch);
                case 34:
                    return Frames.Method(ch, new AccessRequest("/data", false, false, true, true, true));
                default:
                    return Frames.Method(ch, new BasicPublish(0, PublishExchange(), RoutingKey(), random.Next(2) == 0, false));
            }
        }

        /// <summary>A coherent sequence through the broker's state machines, often ending in garbage.</summary>
        public byte[] Chain()
        {
            ushort ch = (ushort)random.Next(1, openChannels + 1);
            bool gentle = hostility == 0;
            int exchangeIndex = random.Next(4);
            int queueIndex = random.Next(4);
            string type = gentle ? s_exchangeKinds[exchangeIndex] : Pick(s_exchangeKinds);
            string exchange = gentle ? $"fz-w{worker}-{type}" : $"fz-w{worker}-x{exchangeIndex}";
            string queue = gentle ? $"fz-w{worker}-q{queueIndex}" : random.Next(3) == 0 ? $"fz-q{random.Next(6)}" : $"fz-w{worker}-q{queueIndex}";
            string key = type == "topic" ? Pick("a.b", "stock.usd.nyse", "x") : Pick("k", "", queue);
            string bindKey = type == "topic" ? Pick("a.*", "#", "stock.#", "*.*.*", "x") : key;
            var matchHeaders = new FieldTable(new FieldTableEntry("color", FieldValue.FromString("red")), new FieldTableEntry("size", FieldValue.FromInt32(3)));
            var bindArguments = type == "headers"
                ? new FieldTable(new FieldTableEntry("x-match", FieldValue.FromString(Pick("all", "any", "all-with-x", "any-with-x"))), new FieldTableEntry("color", FieldValue.FromString("red")))
                : FieldTable.Empty;
            // Gentle chains keep to one consistent shape per name and one mode per channel (1 confirms, 2 transactions,
            // 3 neither), so that they are accepted and reach deliveries; the others redeclare whatever they like.
            bool transactional = gentle ? ch == 2 : random.Next(4) == 0;
            var units = new List<byte[]>();
            if (gentle)
            {
                units.Add(Frames.Method(ch, new ExchangeDeclare(0, exchange, type, false, Durable: exchangeIndex % 2 == 0, false, false, false, FieldTable.Empty)));
                var limit = queueIndex == 3
                    ? new FieldTable(new FieldTableEntry("x-max-length", FieldValue.FromInt32(5)), new FieldTableEntry("x-overflow", FieldValue.FromString("drop-head")))
                    : FieldTable.Empty;
                units.Add(Frames.Method(ch, new QueueDeclare(0, queue, false, Durable: queueIndex % 2 == 0, false, false, false, limit)));
            }
            else
            {
                units.Add(DeclareExchange(ch, exchange, type, nowait: false, plainArguments: random.Next(3) != 0));
                units.Add(DeclareQueue(ch, queue, nowait: false, plainArguments: random.Next(3) != 0));
            }

            units.Add(Frames.Method(ch, new QueueBind(0, queue, exchange, bindKey, random.Next(5) == 0, bindArguments)));
            if (random.Next(3) == 0)
            {
                units.Add(Frames.Method(ch, new ExchangeBind(0, exchange, Pick("amq.topic", "amq.fanout", "amq.direct"), Pick("#", "a.b", ""), false, FieldTable.Empty)));
            }

            if (transactional)
            {
                units.Add(Frames.Method(ch, new TxSelect()));
            }
            else if (!gentle || ch == 1)
            {
                units.Add(Frames.Method(ch, new ConfirmSelect(random.Next(4) == 0)));
            }
            if (random.Next(2) == 0)
            {
                units.Add(Frames.Method(ch, new BasicQos(0, (ushort)random.Next(0, 4), random.Next(2) == 0)));
            }

            if (random.Next(2) == 0)
            {
                units.Add(Consume(ch, queue, nowait: false));
            }

            for (int i = random.Next(1, 5); i > 0; i--)
            {
                var properties = Properties() with { Headers = type == "headers" ? matchHeaders : Table(2) };
                units.Add(Publish(ch, random.Next(8) == 0 ? "amq.topic" : exchange, key, properties, Body(), mandatory: random.Next(2) == 0));
            }

            if (transactional)
            {
                units.Add(random.Next(3) == 0 ? Frames.Method(ch, new TxRollback()) : Frames.Method(ch, new TxCommit()));
            }

            if (random.Next(2) == 0)
            {
                units.Add(Frames.Method(ch, new BasicGet(0, queue, NoAck: random.Next(2) == 0)));
            }

            // Tags 1.. are likely this channel's first deliveries.
            switch (random.Next(5))
            {
                case 0:
                    units.Add(Frames.Method(ch, new BasicAck(0, Multiple: true)));
                    break;
                case 1:
                    units.Add(Frames.Method(ch, new BasicNack(gentle ? 0 : (ulong)random.Next(1, 4), Multiple: true, Requeue: true)));
                    break;
                case 2:
                    units.Add(Frames.Method(ch, new BasicRecover(true)));
                    break;
                case 3:
                    units.Add(gentle ? Frames.Method(ch, new BasicRecoverAsync(true)) : Frames.Method(ch, new BasicReject(1, Requeue: random.Next(2) == 0)));
                    break;
            }

            switch (random.Next(5))
            {
                case 0:
                    units.Add(Frames.Method(ch, new QueueUnbind(0, queue, exchange, bindKey, bindArguments)));
                    break;
                case 1:
                    units.Add(Frames.Method(ch, new QueueDelete(0, queue, IfUnused: random.Next(2) == 0, IfEmpty: random.Next(2) == 0, false)));
                    break;
                case 2:
                    units.Add(Frames.Method(ch, new ExchangeDelete(0, exchange, IfUnused: random.Next(2) == 0, false)));
                    break;
                case 3:
                    units.Add(hostility > 0 ? Mutate(random, Next(), out _) : Next());
                    break;
            }

            return [.. units.SelectMany(u => u)];
        }

        private byte[] DeclareExchange(ushort ch, string name, string type, bool nowait, bool plainArguments = false)
        {
            FieldTable arguments = plainArguments ? FieldTable.Empty : random.Next(4) switch
            {
                0 => FieldTable.Empty,
                1 => new FieldTable(new FieldTableEntry("alternate-exchange", random.Next(4) == 0 ? FieldValue.FromInt32(7) : FieldValue.FromString(ExchangeName()))),
                2 => Table(3),
                _ => new FieldTable(new FieldTableEntry("alternate-exchange", FieldValue.FromString(name)), new FieldTableEntry("x-extra", Value(2))),
            };
            bool passive = random.Next(7) == 0;
            return Frames.Method(ch, new ExchangeDeclare(0, name, type, passive, Durable: random.Next(3) == 0, AutoDelete: random.Next(4) == 0, Internal: random.Next(6) == 0, nowait, arguments));
        }

        private byte[] DeclareQueue(ushort ch, string name, bool nowait, bool plainArguments = false)
        {
            FieldTable arguments = plainArguments ? FieldTable.Empty : random.Next(6) switch
            {
                0 => FieldTable.Empty,
                1 => new FieldTable(new FieldTableEntry("x-max-length", Number()), new FieldTableEntry("x-overflow", Overflow())),
                2 => new FieldTable(new FieldTableEntry("x-max-length-bytes", Number()), new FieldTableEntry("x-overflow", Overflow())),
                3 => new FieldTable(
                    new FieldTableEntry(Pick("x-message-ttl", "x-expires", "x-max-priority", "x-queue-type", "x-dead-letter-exchange", "x-single-active-consumer", "x-queue-mode"), Value(1)),
                    new FieldTableEntry(Pick("x-max-length", "x-dead-letter-routing-key", "x-delivery-limit"), Number())),
                4 => Table(3),
                _ => new FieldTable(new FieldTableEntry("x-max-length", FieldValue.FromInt32(random.Next(0, 4))), new FieldTableEntry("x-overflow", FieldValue.FromString(Pick("drop-head", "reject-publish")))),
            };
            return Frames.Method(ch, new QueueDeclare(
                0, name, Passive: random.Next(7) == 0, Durable: random.Next(3) == 0, Exclusive: random.Next(3) == 0, AutoDelete: random.Next(4) == 0, nowait, arguments));
        }

        private byte[] Consume(ushort ch, string queue, bool nowait)
        {
            string tag = random.Next(2) == 0 ? "" : random.Next(4) == 0 ? known?.ConsumerTag(random.Next()) ?? ConsumerTagName() : ConsumerTagName();
            var arguments = random.Next(3) == 0 ? new FieldTable(new FieldTableEntry(Pick("x-priority", "x-cancel-on-ha-failover", "x-stream-offset"), Value(1))) : FieldTable.Empty;
            return Frames.Method(ch, new BasicConsume(0, queue, tag, NoLocal: random.Next(5) == 0, NoAck: random.Next(3) == 0, Exclusive: random.Next(5) == 0, nowait, arguments));
        }

        private byte[] Publish(ushort ch, string exchange, string routingKey, BasicProperties properties, byte[] body, bool? mandatory = null) =>
            Frames.Write(o =>
            {
                FrameWriter.WriteMethod(o, ch, new BasicPublish(0, exchange, routingKey, mandatory ?? random.Next(2) == 0, Immediate: random.Next(30) == 0), Frames.Unlimited);
                FrameWriter.WriteContentHeader(o, ch, new ContentHeader((ulong)body.Length, properties), Frames.Unlimited);
                FrameWriter.WriteBody(o, ch, body, frameMax);
            });

        /// <summary>Content frames out of their order: a header or body with no method, a method with no header, sizes that do not add up.</summary>
        private byte[] OddContent(ushort ch)
        {
            var body = Body();
            var properties = Properties();
            var publish = Frames.Method(ch, new BasicPublish(0, PublishExchange(), RoutingKey(), false, false));
            byte[] Header(ulong size) => Frames.Write(o => FrameWriter.WriteContentHeader(o, ch, new ContentHeader(size, properties), Frames.Unlimited));
            byte[] Bodies(byte[] bytes, ushort channel) => Frames.Write(o => FrameWriter.WriteBody(o, channel, bytes, frameMax));
            return random.Next(11) switch
            {
                0 => Header((ulong)body.Length),
                1 => Bodies(body.Length == 0 ? [1] : body, ch),
                2 => [.. publish, .. Bodies(body.Length == 0 ? [1] : body, ch)],
                3 => [.. publish, .. Header((ulong)body.Length), .. Bodies([.. body, .. RandomBytes(random, random.Next(1, 100))], ch)],
                4 => [.. publish, .. Header((ulong)body.Length + 10), .. Bodies(body, ch), .. Frames.Method(ch, new BasicQos(0, 1, false))],
                5 => [.. publish, .. Header(Pick(ulong.MaxValue, 1ul << 40, (ulong)int.MaxValue + 1))],
                6 => [.. publish, .. Frames.Raw(FrameType.Header, ch, [0, 50, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0]), .. Bodies([1], ch)],
                7 => [.. publish, .. Header((ulong)body.Length), .. Bodies(body.Length == 0 ? [1] : body, 0)],
                8 => [.. publish, .. Header((ulong)body.Length), .. Frames.Method((ushort)(ch == 1 ? 2 : 1), new BasicQos(0, 1, false)), .. Bodies(body, ch)],
                9 => Frames.Write(o => FrameWriter.WriteContent(o, ch, new BasicDeliver("fz", 1, false, "", "q"), properties, new ReadOnlySequence<byte>(body), Frames.Unlimited)),
                _ => [.. publish, .. DeepHeadersHeader(ch)],
            };
        }

        /// <summary>Methods that belong to the connection, or to no one, sent where they do not.</summary>
        private byte[] ConnectionLevel() => random.Next(9) switch
        {
            0 => Frames.Write(o => FrameWriter.WriteHeartbeat(o)),
            1 => Frames.Raw(FrameType.Heartbeat, 1, []),
            2 => Frames.Method(0, new ConnectionTuneOk(2047, frameMax, 0)),
            3 => Frames.Method(0, new ConnectionOpen("/", ShortString.Empty, false)),
            4 => Frames.Method(0, new ConnectionStartOk(FieldTable.Empty, "PLAIN", new LongString("\0guest\0guest"u8.ToArray()), "en_US")),
            5 => Frames.Method(1, new ConnectionTuneOk(0, 0, 0)),
            6 => Frames.Method(0, new ChannelOpen(ShortString.Empty)),
            7 => Frames.Method(0, new ConnectionUpdateSecret(new LongString(RandomBytes(random, 8)), "fuzz")),
            _ => Frames.Method(0, new ConnectionBlocked("fuzz")),
        };

        private byte[] DeeplyNested(ushort ch)
        {
            byte[] table = s_deepTables[random.Next(s_deepTables.Length)];
            var name = Encoding.UTF8.GetBytes(QueueNameForDeclare());
            var arguments = new byte[2 + 1 + name.Length + 1 + table.Length];
            arguments[2] = (byte)name.Length;
            name.CopyTo(arguments, 3);
            arguments[3 + name.Length] = 0;
            table.CopyTo(arguments, 4 + name.Length);
            return random.Next(2) == 0
                ? Frames.RawMethod(ch, (uint)AmqpMethodId.QueueDeclare, arguments)
                : [.. Frames.Method(ch, new BasicPublish(0, "", "fz-q0", false, false)), .. DeepHeadersHeader(ch)];
        }

        private byte[] DeepHeadersHeader(ushort ch)
        {
            byte[] table = s_deepTables[random.Next(s_deepTables.Length)];
            var payload = new byte[2 + 2 + 8 + 2 + table.Length];
            BinaryPrimitives.WriteUInt16BigEndian(payload, (ushort)AmqpClassId.Basic);
            BinaryPrimitives.WriteUInt16BigEndian(payload.AsSpan(12), 0x2000);
            table.CopyTo(payload, 14);
            return Frames.Raw(FrameType.Header, ch, payload);
        }

        /// <summary>A field table whose only entry nests <paramref name="depth"/> tables ('F') or arrays ('A') deep.</summary>
        private static byte[] DeepTable(int depth, char kind)
        {
            byte[] inner = [0, 0, 0, 0];
            for (int level = 0; level < depth; level++)
            {
                byte[] value = [(byte)kind, .. inner];
                byte[] content = kind == 'F' || level == depth - 1 ? [1, (byte)'d', .. value] : value;
                var wrapped = new byte[4 + content.Length];
                BinaryPrimitives.WriteUInt32BigEndian(wrapped, (uint)content.Length);
                content.CopyTo(wrapped, 4);
                inner = wrapped;
            }

            return inner;
        }

        private static byte[] Padded(byte[] frame)
        {
            // Two stray bytes after the arguments, inside a correctly framed method.
            var payload = frame.AsSpan(AmqpFrame.HeaderLength, frame.Length - AmqpFrame.OverheadLength).ToArray();
            return Frames.Raw(FrameType.Method, BinaryPrimitives.ReadUInt16BigEndian(frame.AsSpan(1)), [.. payload, 0xAB, 0xCD]);
        }

        /// <summary>Mostly a channel the session opened; sometimes (less in gentle sessions) one it did not, or channel 0.</summary>
        private ushort Channel()
        {
            int roll = random.Next(20);
            if (hostility == 0)
            {
                return (ushort)(1 + (roll % openChannels));
            }

            return roll switch
            {
                < 17 => (ushort)(1 + (roll % openChannels)),
                17 => 0,
                18 => (ushort)random.Next(1, 9),
                _ => Pick((ushort)2047, (ushort)2048, ushort.MaxValue),
            };
        }

        private string ExchangeName() => random.Next(12) switch
        {
            < 3 => Pick(s_systemExchanges),
            < 6 => $"fz-x{random.Next(6)}",
            < 9 => $"fz-w{worker}-x{random.Next(4)}",
            9 => $"fz-missing-{random.Next(1000)}",
            10 => Pick("amq.fz-reserved", "amq.rabbitmq.trace", new string('e', 255)),
            _ => Pick("fz-ünïcødé", "fz x", "fz-w" + worker + "-x0"),
        };

        private string PublishExchange() => random.Next(10) switch
        {
            < 4 => Pick(s_systemExchanges),
            < 6 => $"fz-x{random.Next(6)}",
            < 9 => $"fz-w{worker}-x{random.Next(4)}",
            _ => $"fz-missing-{random.Next(1000)}",
        };

        private string QueueNameForDeclare() => random.Next(10) switch
        {
            < 2 => "",
            < 5 => $"fz-q{random.Next(6)}",
            < 9 => $"fz-w{worker}-q{random.Next(4)}",
            _ => Pick("amq.fz-reserved", new string('q', 255), "fz-ünï"),
        };

        private string QueueName() => random.Next(10) switch
        {
            < 3 => known?.Queue(random.Next()) ?? "",
            3 => "",
            < 6 => $"fz-q{random.Next(6)}",
            < 9 => $"fz-w{worker}-q{random.Next(4)}",
            _ => $"fz-missing-{random.Next(1000)}",
        };

        private string RoutingKey() => random.Next(6) switch
        {
            0 => "",
            1 => $"fz-q{random.Next(6)}",
            2 => $"fz-w{worker}-q{random.Next(4)}",
            3 => known?.Queue(random.Next()) ?? "k",
            4 => new string('r', random.Next(0, 256)),
            _ => string.Join('.', Enumerable.Range(0, random.Next(1, 5)).Select(_ => Pick(s_words))),
        };

        private string ConsumerTagName() => $"fz-ctag-{worker}-{_tags++ % 4}";

        private ulong DeliveryTag(ushort ch)
        {
            int draw = random.Next();
            return random.Next(hostility == 0 ? 4 : 8) switch
            {
                // Gentle sessions settle what they were given, or everything (tag 0 with multiple).
                < 4 => known?.TakeDeliveryTag(ch, draw) ?? (hostility == 0 ? 0 : (ulong)(draw % 4)),
                4 => 0,
                5 => (ulong)random.Next(1, 20),
                6 => Pick(ulong.MaxValue, (ulong)long.MaxValue, 1ul << 32, ulong.MaxValue - 1),
                _ => (ulong)draw,
            };
        }

        private FieldTable BindingArguments() => random.Next(4) switch
        {
            0 => FieldTable.Empty,
            1 => new FieldTable(new FieldTableEntry("x-match", FieldValue.FromString(Pick("all", "any", "all-with-x", "any-with-x", "bogus"))), new FieldTableEntry(Pick(s_headerNames), Value(1))),
            2 => new FieldTable(new FieldTableEntry("x-match", random.Next(2) == 0 ? FieldValue.FromInt32(1) : FieldValue.Void)),
            _ => Table(3),
        };

        private FieldValue Number() => random.Next(8) switch
        {
            0 => FieldValue.FromInt64(random.Next(-5, 50)),
            1 => FieldValue.FromInt32(random.Next(0, 20)),
            2 => FieldValue.FromInt16((short)random.Next(-3, 20)),
            3 => FieldValue.FromInt8((sbyte)random.Next(-3, 20)),
            4 => FieldValue.FromUInt32((uint)random.Next()),
            5 => FieldValue.FromInt64(long.MaxValue),
            6 => FieldValue.FromString("10"),
            _ => FieldValue.FromFloat64(1.5),
        };

        private FieldValue Overflow() => random.Next(6) switch
        {
            0 => FieldValue.FromString("drop-head"),
            1 => FieldValue.FromString("reject-publish"),
            2 => FieldValue.FromString("reject-publish-dlx"),
            3 => FieldValue.FromString("bogus"),
            4 => FieldValue.FromInt32(1),
            _ => FieldValue.FromByteArray("drop-head"u8.ToArray()),
        };

        private BasicProperties Properties()
        {
            var properties = new BasicProperties();
            if (random.Next(2) == 0)
            {
                properties = properties with { ContentType = Pick("text/plain", "application/json", ""), Headers = Table(3) };
            }

            if (random.Next(2) == 0)
            {
                properties = properties with { DeliveryMode = Pick<byte>(1, 2, 2, 0, 9) };
            }

            if (random.Next(4) == 0)
            {
                properties = properties with
                {
                    Priority = (byte)random.Next(0, 256),
                    CorrelationId = "c",
                    ReplyTo = Pick("amq.rabbitmq.reply-to", "fz-q1", ""),
                    Expiration = hostility == 0 ? Pick("0", "60000", "100") : Pick("0", "60000", "-1", "soon", ""),
                    MessageId = "m",
                    Timestamp = new AmqpTimestamp((ulong)random.NextInt64()),
                    Type = "t",
                    AppId = "fuzz",
                    ClusterId = "cluster",
                };
            }

            if (random.Next(10) == 0)
            {
                properties = properties with { UserId = hostility == 0 ? "guest" : Pick("guest", "not-guest", "") };
            }

            return properties;
        }

        private byte[] Body() => random.Next(20) switch
        {
            < 5 => [],
            < 14 => RandomBytes(random, random.Next(1, 256)),
            < 19 => RandomBytes(random, random.Next(256, 6000)),
            _ => RandomBytes(random, random.Next((int)frameMax, (int)Math.Min(frameMax * 3, 300_000))),
        };

        private FieldTable Table(int depth)
        {
            var entries = new FieldTableEntry[random.Next(0, 5)];
            for (int i = 0; i < entries.Length; i++)
            {
                entries[i] = new FieldTableEntry(HeaderName(), Value(depth));
            }

            return new FieldTable(entries);
        }

        private ShortString HeaderName() => random.Next(10) switch
        {
            < 6 => Pick(s_headerNames),
            6 => new ShortString(new byte[] { 0xC3, 0x28, 0xFF }),
            7 => new string('h', 255),
            _ => $"h{random.Next(100)}",
        };

        private FieldValue Value(int depth) => random.Next(depth > 0 ? 21 : 18) switch
        {
            0 => FieldValue.FromBoolean(random.Next(2) == 0),
            1 => FieldValue.FromInt8((sbyte)random.Next(-128, 128)),
            2 => FieldValue.FromUInt8((byte)random.Next(256)),
            3 => FieldValue.FromInt16((short)random.Next(short.MinValue, short.MaxValue)),
            4 => FieldValue.FromUInt16((ushort)random.Next(65536)),
            5 => FieldValue.FromInt32(random.Next(int.MinValue, int.MaxValue)),
            6 => FieldValue.FromUInt32((uint)random.NextInt64(0, uint.MaxValue)),
            7 => FieldValue.FromInt64(random.NextInt64(long.MinValue, long.MaxValue)),
            8 => FieldValue.FromFloat32(Pick(float.NaN, float.NegativeInfinity, 1.5f, -0f)),
            9 => FieldValue.FromFloat64(Pick(double.NaN, double.Epsilon, -2.5e300, 0d)),
            10 => FieldValue.FromDecimal(new AmqpDecimal((byte)random.Next(256), random.Next(int.MinValue, int.MaxValue))),
            11 => FieldValue.FromTimestamp(new AmqpTimestamp((ulong)random.NextInt64())),
            12 => FieldValue.FromString(Pick("red", "", "ünïcødé ✓", "all", "any")),
            13 => FieldValue.FromLongString(RandomBytes(random, random.Next(0, 20))),
            14 => FieldValue.FromByteArray(RandomBytes(random, random.Next(0, 20))),
            15 => FieldValue.Void,
            16 => FieldValue.FromString("red"),
            17 => FieldValue.FromInt32(3),
            18 => FieldValue.FromTable(Table(depth - 1)),
            19 => FieldValue.FromArray(new FieldArray(Enumerable.Range(0, random.Next(0, 4)).Select(_ => Value(depth - 1)).ToArray())),
            _ => FieldValue.FromArray(FieldArray.Empty),
        };

        private T Pick<T>(params T[] choices) => choices[random.Next(choices.Length)];
    }

    /// <summary>
    /// A damaged copy of <paramref name="unit"/>. <paramref name="framingIntact"/> says whether every frame still has
    /// its type, size and frame-end (only a payload, a channel or method ids changed), so the broker can still read it all.
    /// </summary>
    private static byte[] Mutate(Random random, byte[] unit, out bool framingIntact)
    {
        byte[] copy = (byte[])unit.Clone();
        var frames = Frames.Spans(copy);
        int kind = random.Next(9);
        if (kind >= 5 && frames.Count == 0)
        {
            kind = 0;
        }

        framingIntact = kind >= 5;
        var (start, length) = frames.Count == 0 ? (0, 0) : frames[random.Next(frames.Count)];
        switch (kind)
        {
            case 0:
                // Flip a few bytes anywhere: type, channel, size, arguments or frame-end.
                for (int i = random.Next(1, 4); i > 0; i--)
                {
                    copy[random.Next(copy.Length)] ^= (byte)random.Next(1, 256);
                }

                return copy;
            case 1:
                return copy[..random.Next(1, copy.Length)];
            case 2:
                // A huge announced size: must be refused before anything is buffered for it.
                copy[3] = 0x7F;
                return copy;
            case 3:
                return [.. copy, .. RandomBytes(random, random.Next(1, 32))];
            case 4:
                return RandomBytes(random, random.Next(1, 300));
            case 5:
            case 6:
                // Flip bytes inside one frame's payload: lengths, bits, tables, properties.
                if (length > AmqpFrame.OverheadLength)
                {
                    for (int i = random.Next(1, 4); i > 0; i--)
                    {
                        copy[start + AmqpFrame.HeaderLength + random.Next(length - AmqpFrame.OverheadLength)] ^= (byte)random.Next(1, 256);
                    }
                }

                return copy;
            case 7:
                // Another channel.
                BinaryPrimitives.WriteUInt16BigEndian(copy.AsSpan(start + 1), (ushort)random.Next(0, 6));
                return copy;
            default:
                // Another method (or a content frame turned into another type of frame, still framed).
                if (copy[start] == (byte)FrameType.Method && length >= AmqpFrame.OverheadLength + 4)
                {
                    BinaryPrimitives.WriteUInt16BigEndian(copy.AsSpan(start + AmqpFrame.HeaderLength + 2), (ushort)(random.Next(1, 12) * 10));
                }
                else
                {
                    copy[start] = (byte)random.Next(1, 5);
                    copy[start] = copy[start] == 4 ? (byte)8 : copy[start];
                }

                return copy;
        }
    }

    private static byte[] RandomBytes(Random random, int length)
    {
        byte[] bytes = new byte[length];
        random.NextBytes(bytes);
        return bytes;
    }
}
