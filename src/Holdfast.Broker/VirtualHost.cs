using System.Buffers;
using System.Collections.Immutable;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using Holdfast.Broker.Delayed;
using Holdfast.Broker.Messages;
using Holdfast.Broker.Monitoring;
using Holdfast.Broker.Policies;
using Holdfast.Broker.Queues;
using Holdfast.Broker.Routing;
using Holdfast.Broker.Sessions;
using Holdfast.Broker.Topology;
using Holdfast.Storage;

namespace Holdfast.Broker;

/// <summary>
/// One virtual host: its exchanges, bindings and queues, and the publish path through them.
/// </summary>
/// <remarks>
/// Publishes read an immutable <see cref="TopologySnapshot"/> with no lock. Topology changes are
/// serialized by one async gate per vhost, write their durable part to the store with
/// <see cref="FlushPolicy.Sync"/> (a durable queue the broker said it declared exists after any
/// crash), and only then swap in the new snapshot and answer.
/// </remarks>
public sealed class VirtualHost : IDisposable, IQueueHost
{
    private readonly SemaphoreSlim _topologyGate = new(1, 1);
    private readonly MessageStore _store;
    private readonly MessageMemory _memory;
    private readonly TimeProvider _time;
    private readonly BrokerEvents _events;
    private readonly DelayedMessageScheduler _delayed;
    private volatile TopologySnapshot _topology = TopologySnapshot.Empty;
    private ImmutableDictionary<string, PolicyDefinition> _policies = ImmutableDictionary.Create<string, PolicyDefinition>(StringComparer.Ordinal);

    internal BrokerEvents Events => _events;

    internal VirtualHost(string name, MessageStore store, MessageMemory memory, TimeProvider time, BrokerEvents events)
    {
        Name = name;
        _events = events;
        _store = store;
        _memory = memory;
        _time = time;
        _delayed = new DelayedMessageScheduler(store, time, DelayedIndexName(name), ReleaseDelayedAsync);
        Replies = new ReplyDirectory(name);
        foreach (var (exchange, kind, isInternal) in Predeclared)
        {
            AddExchange(new ExchangeDefinition(exchange, kind, Durable: true, AutoDelete: false, Internal: isInternal, TopologyArguments.Empty));
        }
    }

    public string Name { get; }

    /// <summary>Direct reply-to consumers by generated name; replies bypass routing and queues.</summary>
    internal ReplyDirectory Replies { get; }

    private static (string Name, ExchangeKind Kind, bool Internal)[] Predeclared { get; } =
    [
        ("amq.direct", ExchangeKind.Direct, false),
        ("amq.fanout", ExchangeKind.Fanout, false),
        ("amq.topic", ExchangeKind.Topic, false),
        ("amq.headers", ExchangeKind.Headers, false),
        ("amq.match", ExchangeKind.Headers, false),
        ("amq.rabbitmq.trace", ExchangeKind.Topic, true),
    ];

    public MessageQueue? FindQueue(string name) => _topology.Queues.GetValueOrDefault(name);

    public ExchangeDefinition? FindExchange(string name) => _topology.Exchanges.GetValueOrDefault(name);

    public IReadOnlyCollection<MessageQueue> Queues => [.. _topology.Queues.Values];

    public IReadOnlyCollection<ExchangeDefinition> Exchanges => [.. _topology.Exchanges.Values];

    /// <summary>Messages held by an x-delay header until their time.</summary>
    public int DelayedCount => _delayed.Count;

    /// <summary>Delayed releases a full queue refused; each such message stayed held and was tried again 5 s later.</summary>
    public long DelayedRefusals => _delayed.Refusals;

    internal const string DelayedIndexPrefix = "~delayed/";

    internal static string DelayedIndexName(string vhost) => $"{DelayedIndexPrefix}{vhost.Length}/{vhost}";

    internal Task RecoverDelayedAsync() => _delayed.RecoverAsync();

    public void Dispose()
    {
        foreach (var queue in _topology.Queues.Values)
        {
            queue.StopTimers();
        }

        _delayed.Dispose();
        _topologyGate.Dispose();
    }

    // ---- exchanges ----

    public async Task DeclareExchangeAsync(ExchangeDefinition requested, bool passive, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(requested);
        var name = requested.Name;
        if (passive)
        {
            if (name.Length > 0 && FindExchange(name) is null)
            {
                throw BrokerException.NoExchange(Name, name);
            }

            return;
        }

        if (name.Length == 0)
        {
            throw new BrokerException(BrokerErrorKind.AccessRefused, "operation not permitted on the default exchange");
        }

        await _topologyGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (FindExchange(name) is { } existing)
            {
                CheckEquivalent(existing, requested);
                return;
            }

            // Only new names are refused: redeclaring amq.direct as it is succeeds, as in RabbitMQ.
            if (name.StartsWith("amq.", StringComparison.Ordinal))
            {
                throw new BrokerException(BrokerErrorKind.AccessRefused, $"exchange name '{name}' contains reserved prefix 'amq.*'");
            }

            if (requested.Durable)
            {
                await Durably(_store.PutMetadataAsync(TopologyFormat.ExchangeKey(Name, name), TopologyFormat.Encode(requested), FlushPolicy.Sync)).ConfigureAwait(false);
            }

            AddExchange(requested);
        }
        finally
        {
            _topologyGate.Release();
        }
    }

    public async Task DeleteExchangeAsync(string name, bool ifUnused, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (name.Length == 0 || name.StartsWith("amq.", StringComparison.Ordinal))
        {
            throw new BrokerException(BrokerErrorKind.AccessRefused, name.Length == 0 ? "operation not permitted on the default exchange" : $"deletion of system exchange '{name}' in vhost '{Name}' not allowed");
        }

        await _topologyGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (FindExchange(name) is not { } exchange)
            {
                return; // Deleting what is not there succeeds, as in RabbitMQ.
            }

            if (ifUnused && !(_topology.Routes.Find(name)?.Bindings.IsEmpty ?? true))
            {
                throw new BrokerException(BrokerErrorKind.PreconditionFailed, $"exchange '{name}' in vhost '{Name}' in use");
            }

            await RemoveExchangeLockedAsync(exchange).ConfigureAwait(false);
        }
        finally
        {
            _topologyGate.Release();
        }
    }

    // ---- queues ----

    public async Task<QueueDeclareResult> DeclareQueueAsync(QueueDefinition requested, long connectionId, bool passive, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(requested);
        if (passive)
        {
            var queue = FindQueue(requested.Name) ?? throw BrokerException.NoQueue(Name, requested.Name);
            CheckExclusiveAccess(queue, connectionId);
            return Describe(queue);
        }

        if (requested.Name.Length == 0)
        {
            requested = requested with { Name = "amq.gen-" + RandomSuffix() };
        }
        else if (requested.Name.StartsWith("amq.", StringComparison.Ordinal))
        {
            throw new BrokerException(BrokerErrorKind.AccessRefused, $"queue name '{requested.Name}' contains reserved prefix 'amq.*'");
        }

        await _topologyGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (FindQueue(requested.Name) is { } existing)
            {
                CheckExclusiveAccess(existing, connectionId);
                if (existing.Definition.Exclusive != requested.Exclusive)
                {
                    throw LockedQueue(existing);
                }

                CheckEquivalent(existing, requested);
                existing.Touch();
                return Describe(existing);
            }

            // Refuse bad arguments before anything is written.
            _ = QueueLimits.From(requested.Arguments, new QueueContext(requested.Name, Name));
            _ = QueueSettings.From(requested.Arguments, new QueueContext(requested.Name, Name));

            // Exclusive queues die with their connection, so they are never written down, durable or not.
            StoredQueue? stored = null;
            if (requested.Durable && !requested.Exclusive)
            {
                stored = await Durably(_store.DeclareQueueAsync(TopologyFormat.StoredQueueName(Name, requested.Name), FlushPolicy.Sync)).ConfigureAwait(false);
                await Durably(_store.PutMetadataAsync(TopologyFormat.QueueKey(Name, requested.Name), TopologyFormat.Encode(requested), FlushPolicy.Sync)).ConfigureAwait(false);
            }

            var created = new MessageQueue(Name, requested, requested.Exclusive ? connectionId : null, stored, _store, _memory, _time, this, UsableArguments(requested));
            AddQueue(created);
            created.Touch();
            return Describe(created);
        }
        finally
        {
            _topologyGate.Release();
        }
    }

    /// <returns>The number of ready messages the queue had.</returns>
    public async Task<long> DeleteQueueAsync(string name, long connectionId, bool ifUnused, bool ifEmpty, CancellationToken cancellationToken = default)
    {
        await _topologyGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (FindQueue(name) is not { } queue)
            {
                return 0; // As in RabbitMQ: deleting a queue that is not there succeeds.
            }

            CheckExclusiveAccess(queue, connectionId);
            if (ifUnused && queue.ConsumerCount > 0)
            {
                throw new BrokerException(BrokerErrorKind.PreconditionFailed, $"queue '{name}' in vhost '{Name}' in use");
            }

            if (ifEmpty && queue.ReadyCount > 0)
            {
                throw new BrokerException(BrokerErrorKind.PreconditionFailed, $"queue '{name}' in vhost '{Name}' not empty");
            }

            return await RemoveQueueLockedAsync(queue).ConfigureAwait(false);
        }
        finally
        {
            _topologyGate.Release();
        }
    }

    public long PurgeQueue(string name, long connectionId)
    {
        var queue = FindQueue(name) ?? throw BrokerException.NoQueue(Name, name);
        CheckExclusiveAccess(queue, connectionId);
        return queue.Purge();
    }

    /// <summary>Deletes the exclusive queues of a connection that has closed.</summary>
    public async Task ConnectionClosedAsync(long connectionId)
    {
        foreach (var queue in _topology.Queues.Values)
        {
            if (queue.ExclusiveOwner == connectionId)
            {
                await DeleteOwnedAsync(queue).ConfigureAwait(false);
            }
        }
    }

    /// <summary>Deletes a queue the broker decided to delete (auto-delete, exclusive owner gone), unless it is already gone.</summary>
    internal async Task DeleteOwnedAsync(MessageQueue queue)
    {
        await _topologyGate.WaitAsync().ConfigureAwait(false);
        try
        {
            if (FindQueue(queue.Name) == queue)
            {
                await RemoveQueueLockedAsync(queue).ConfigureAwait(false);
            }
        }
        finally
        {
            _topologyGate.Release();
        }
    }

    // ---- bindings ----

    public Task BindQueueAsync(string queue, string exchange, string routingKey, IReadOnlyDictionary<string, object?> arguments, long connectionId, CancellationToken cancellationToken = default) =>
        ChangeBindingAsync(exchange, Destination.Queue(queue), routingKey, arguments, connectionId, bind: true, cancellationToken);

    public Task UnbindQueueAsync(string queue, string exchange, string routingKey, IReadOnlyDictionary<string, object?> arguments, long connectionId, CancellationToken cancellationToken = default) =>
        ChangeBindingAsync(exchange, Destination.Queue(queue), routingKey, arguments, connectionId, bind: false, cancellationToken);

    public Task BindExchangeAsync(string destination, string source, string routingKey, IReadOnlyDictionary<string, object?> arguments, CancellationToken cancellationToken = default) =>
        ChangeBindingAsync(source, Destination.Exchange(destination), routingKey, arguments, connectionId: 0, bind: true, cancellationToken);

    public Task UnbindExchangeAsync(string destination, string source, string routingKey, IReadOnlyDictionary<string, object?> arguments, CancellationToken cancellationToken = default) =>
        ChangeBindingAsync(source, Destination.Exchange(destination), routingKey, arguments, connectionId: 0, bind: false, cancellationToken);

    // ---- publishing ----

    /// <summary>
    /// Routes a message and puts it in every queue reached. A persistent message bound for durable
    /// queues is appended to the store once for all of them; the returned task completes when that
    /// append reaches the flush policy's point (at once when nothing was stored) and fails if it cannot.
    /// <para>
    /// A message moved <paramref name="from"/> a stored index is written with that index's ack in the
    /// same record (<see cref="PublishScratch.SourceAcked"/> tells whether it was), and reaches its new
    /// queues only once that record is written: a consumer never sees a copy that a crash could take
    /// back while the old one stays to be moved again, unmarked, after the restart.
    /// </para>
    /// <para>
    /// With <paramref name="confirmOnLogThread"/> the returned task may complete on the store's log thread, running
    /// its continuation there: for a publisher's confirm only (see <c>MessageStore.AppendAsync</c>'s
    /// <c>completeOnLogThread</c>), never for work that blocks or waits on the store.
    /// </para>
    /// </summary>
    internal ValueTask Publish(BrokerMessage message, PublishScratch scratch, out bool routed, out bool rejected, bool allowDelay = true, MovedFrom? from = null, IReadOnlyList<string>? routedTo = null, bool confirmOnLogThread = false)
    {
        scratch.SourceAcked = false;
        var topology = _topology;
        var targets = scratch.Targets;
        targets.Clear();
        if (routedTo is not null)
        {
            // Routed earlier (a transaction's publish, delivered at commit): the queues by name, as they are now.
            foreach (var name in routedTo)
            {
                if (topology.Queues.TryGetValue(name, out var queue) && !targets.Contains(queue))
                {
                    targets.Add(queue);
                }
            }
        }
        else if (Route(ref message, topology, scratch, allowDelay) is { } delay)
        {
            // Held until its time; routed then. A mandatory flag cannot be honoured for a route that does not exist yet.
            routed = true;
            rejected = false;
            try
            {
                return _delayed.HoldAsync(message, delay);
            }
            catch (ArgumentException ex)
            {
                throw new BrokerException(BrokerErrorKind.PreconditionFailed, ex.Message, ex);
            }
        }

        routed = targets.Count > 0;

        // A queue full under reject-publish refuses the message; it still counts as routed (no return), and the publisher gets a nack.
        rejected = false;
        for (var i = targets.Count - 1; i >= 0; i--)
        {
            if (from is not null && targets[i].RejectsPublish(message.Body.Length))
            {
                // A move that a target refuses goes nowhere: the message stays where it was, to be tried again.
                targets.Clear();
                rejected = true;
                return ValueTask.CompletedTask;
            }

            if (targets[i].RejectsPublish(message.Body.Length))
            {
                if (targets[i].Limits.Overflow == OverflowBehaviour.RejectPublishDeadLetter && targets[i].Settings.DeadLetterExchange is { } dlx)
                {
                    // reject-publish-dlx: the publisher hears "nack", and the refused message is dead-lettered (reason maxlen).
                    var letter = DeathHistory.DeadLettered(message, targets[i].Name, "maxlen", _time.GetUtcNow(), dlx, targets[i].Settings.DeadLetterRoutingKey);
                    _ = PublishRefusedLetterAsync(letter);
                }

                targets.RemoveAt(i);
                rejected = true;
            }
        }

        // Each target's index: the durable one for a persistent message, else under memory pressure
        // the queue's page index; one record in the store serves them all.
        var paging = _memory.OverBudget;
        if (!paging && _memory.NearBudget)
        {
            foreach (var queue in targets)
            {
                queue.PageIndexOrStart();
            }
        }

        var stored = scratch.StoredTargets;
        var indexes = scratch.Indexes;
        stored.Clear();
        indexes.Clear();
        var durable = false;
        foreach (var queue in targets)
        {
            StoredQueue? index = null;
            if (message.Properties.IsPersistent && queue.Stored is { } durableIndex)
            {
                index = durableIndex;
                durable = true;
            }
            else if (paging)
            {
                index = queue.PageIndexOrStart();
            }

            indexes.Add(index);
            if (index is not null)
            {
                stored.Add(index);
            }
        }

        var arrivedAtMs = _time.GetUtcNow().ToUnixTimeMilliseconds();
        var write = ValueTask.CompletedTask;
        Span<long> seqs = default;
        if (stored.Count > 0)
        {
            // The head is encoded, the body goes into the record straight from where it was assembled.
            var encoded = scratch.Encoded;
            encoded.ResetWrittenCount();
            StoredMessageFormat.WriteHead(message, encoded, arrivedAtMs);
            seqs = scratch.Seqs(stored.Count);
            try
            {
                // Paged copies only need to reach the OS: a transient message does not outlive a restart anyway.
                var policy = durable ? null : FlushPolicy.Async;
                if (from is { Index: { } sourceIndex } source)
                {
                    write = _store.AppendMovingAsync(CollectionsMarshal.AsSpan(stored), encoded.WrittenSpan, message.Body.Span, seqs, sourceIndex, source.Seq, policy);
                    scratch.SourceAcked = seqs.IndexOfAnyExcept(-1L) >= 0;
                }
                else
                {
                    // The caller's continuation (a confirm) may run on the log's thread; not when a release of the
                    // body waits on the write too (paging), which is more than a confirm.
                    write = _store.AppendAsync(CollectionsMarshal.AsSpan(stored), encoded.WrittenSpan, message.Body.Span, seqs, policy, completeOnLogThread: confirmOnLogThread && !paging);
                }
            }
            catch (ArgumentException ex)
            {
                throw new BrokerException(BrokerErrorKind.PreconditionFailed, ex.Message, ex);
            }
        }

        if (from is not null && !write.IsCompletedSuccessfully)
        {
            return EnqueueWhenWrittenAsync(write, message, [.. targets], [.. indexes], seqs.ToArray(), arrivedAtMs, paging && stored.Count > 0);
        }

        return Enqueue(message, CollectionsMarshal.AsSpan(targets), CollectionsMarshal.AsSpan(indexes), seqs, arrivedAtMs, paging && stored.Count > 0, write);
    }

    /// <summary>
    /// A transaction's publish, routed now as RabbitMQ routes it (at basic.publish, delivered at commit): the message
    /// as it will be delivered (without its BCC header) and the names of the queues it reaches, or null queues for a
    /// delayed message, which is routed when it is released. Refusals (no such exchange, an internal one) throw now.
    /// </summary>
    internal (BrokerMessage Message, List<string>? Queues) RouteForCommit(BrokerMessage message, PublishScratch scratch)
    {
        scratch.Targets.Clear();
        if (Route(ref message, _topology, scratch, allowDelay: true) is not null)
        {
            return (message, null);
        }

        return (message, [.. scratch.Targets.Select(queue => queue.Name)]);
    }

    /// <summary>Fills <see cref="PublishScratch.Targets"/> with the queues the message reaches; returns its delay instead when it is to be held.</summary>
    private long? Route(ref BrokerMessage message, TopologySnapshot topology, PublishScratch scratch, bool allowDelay)
    {
        var targets = scratch.Targets;

        // Sender-selected distribution: CC and BCC headers add routing keys; BCC is not delivered.
        var extraKeys = SenderSelectedKeys(message);
        if (extraKeys is not null && message.Properties.Headers!.TryGetHeader("BCC", out _))
        {
            message = message with { Properties = message.Properties with { Headers = message.Properties.Headers.Without("BCC") } };
        }

        if (message.Exchange.Length == 0)
        {
            if (topology.Queues.TryGetValue(message.RoutingKey, out var direct))
            {
                targets.Add(direct);
            }

            foreach (var key in extraKeys ?? NoKeys)
            {
                if (topology.Queues.TryGetValue(key, out var named) && !targets.Contains(named))
                {
                    targets.Add(named);
                }
            }
        }
        else
        {
            if (!topology.Exchanges.TryGetValue(message.Exchange, out var exchange))
            {
                throw BrokerException.NoExchange(Name, message.Exchange);
            }

            if (exchange.Internal)
            {
                throw BrokerException.InternalExchange(Name, message.Exchange);
            }

            if (allowDelay && DelayedMessageScheduler.DelayOf(message) is { } delay)
            {
                return delay;
            }

            topology.Routes.Route(message.Exchange, message.RoutingKey, message.Properties.Headers, scratch.Route);
            foreach (var queueName in scratch.Route.Queues)
            {
                if (topology.Queues.TryGetValue(queueName, out var queue))
                {
                    targets.Add(queue);
                }
            }

            foreach (var key in extraKeys ?? NoKeys)
            {
                topology.Routes.Route(message.Exchange, key, message.Properties.Headers, scratch.Route);
                foreach (var queueName in scratch.Route.Queues)
                {
                    if (topology.Queues.TryGetValue(queueName, out var queue) && !targets.Contains(queue))
                    {
                        targets.Add(queue);
                    }
                }
            }
        }

        return null;
    }

    private static async ValueTask EnqueueWhenWrittenAsync(ValueTask write, BrokerMessage message, MessageQueue[] targets, StoredQueue?[] indexes, long[] seqs, long arrivedAtMs, bool paging)
    {
        await write.ConfigureAwait(false);
        await Enqueue(message, targets, indexes, seqs, arrivedAtMs, paging, ValueTask.CompletedTask).ConfigureAwait(false);
    }

    /// <summary>Puts the routed message in each target queue; with paging, its body leaves memory once <paramref name="write"/> is done.</summary>
    private static ValueTask Enqueue(BrokerMessage message, ReadOnlySpan<MessageQueue> targets, ReadOnlySpan<StoredQueue?> indexes, ReadOnlySpan<long> seqs, long arrivedAtMs, bool paging, ValueTask write)
    {
        List<(MessageQueue Queue, QueuedMessage Entry)>? paged = paging ? [] : null;
        var next = 0;
        for (var i = 0; i < targets.Length; i++)
        {
            var index = indexes[i];
            var entry = targets[i].Enqueue(message, index, index is null ? -1 : seqs[next++], arrivedAtMs);
            if (paged is not null && entry is { IsStored: true })
            {
                paged.Add((targets[i], entry));
            }
        }

        if (paged is { Count: > 0 })
        {
            // The body may leave memory only once its record can be read back.
            var written = write.AsTask();
            _ = ReleaseWhenWrittenAsync(written, paged);
            write = new ValueTask(written);
        }

        return write;
    }

    private async ValueTask<ReleaseOutcome> ReleaseDelayedAsync(BrokerMessage message, MovedFrom from)
    {
        var scratch = new PublishScratch();
        var write = Publish(message, scratch, out _, out var refused, allowDelay: false, from);
        var acked = scratch.SourceAcked;
        await write.ConfigureAwait(false);
        if (refused)
        {
            _events.DelayedReleaseRefused(Name, message.Exchange, message.RoutingKey);
            return ReleaseOutcome.Refused;
        }

        return acked ? ReleaseOutcome.Moved : ReleaseOutcome.Placed;
    }

    private async Task PublishRefusedLetterAsync(BrokerMessage letter)
    {
        try
        {
            await Publish(letter, new PublishScratch(), out _, out _).ConfigureAwait(false);
        }
#pragma warning disable CA1031 // The original was refused and nacked; its publisher still has it to send again.
        catch (Exception)
#pragma warning restore CA1031
        {
        }
    }

    // Static: `extraKeys ?? []` and an inline array would each allocate on every publish.
    private static readonly List<string> NoKeys = [];
    private static readonly string[] SenderSelectedHeaders = ["CC", "BCC"];

    /// <summary>The CC and BCC routing keys of a message, or null when it has neither (the common case, checked cheaply).</summary>
    private static List<string>? SenderSelectedKeys(BrokerMessage message)
    {
        if (message.Properties.Headers is not { Count: > 0 } headers)
        {
            return null;
        }

        List<string>? keys = null;
        foreach (var name in SenderSelectedHeaders)
        {
            if (headers.TryGetHeader(name, out var value) && value is IReadOnlyList<object?> list)
            {
                foreach (var item in list)
                {
                    if (item is TextValue or string)
                    {
                        (keys ??= []).Add(item.ToString()!);
                    }
                }
            }
        }

        return keys;
    }

    private static async Task ReleaseWhenWrittenAsync(Task written, List<(MessageQueue Queue, QueuedMessage Entry)> paged)
    {
        try
        {
#pragma warning disable VSTHRD003 // The store's append, started by this publish.
            await written.ConfigureAwait(false);
#pragma warning restore VSTHRD003
        }
#pragma warning disable CA1031 // A failed write keeps the bodies in memory; the publisher hears of it through its confirm.
        catch (Exception)
#pragma warning restore CA1031
        {
            return;
        }

        foreach (var (queue, entry) in paged)
        {
            queue.ReleaseBody(entry);
        }
    }

    // ---- dead-lettering ----

    /// <summary>
    /// Republishes dead letters through the source queue's dead-letter exchange. At-least-once (the
    /// default): the source lets a message go only after every queue it reached has it (stored
    /// first when persistent and durable); one that routes nowhere, or is refused, stays in the
    /// source, counted, and is tried again. At-most-once lets go first, as RabbitMQ's default does.
    /// </summary>
    async Task IQueueHost.DeadLetterAsync(MessageQueue source, List<DyingMessage> messages)
    {
        var settings = source.Settings;
        var scratch = new PublishScratch();
        foreach (var dying in messages)
        {
            var original = dying.Entry.Message;
            if (original is null || settings.DeadLetterExchange is not { } exchange)
            {
                source.CompleteDeadLetter(dying.Entry);
                continue;
            }

            var letter = DeathHistory.DeadLettered(original, source.Name, dying.Reason, _time.GetUtcNow(), exchange, settings.DeadLetterRoutingKey);
            if (settings.AtMostOnceDeadLettering)
            {
                source.CompleteDeadLetter(dying.Entry);
            }

            bool kept;
            var storeAcked = false;
            string why;
            try
            {
                // At-least-once and stored: the letter's record also acks the source, so a crash leaves it in one place.
                MovedFrom? from = settings.AtMostOnceDeadLettering ? null
                    : dying.Entry.IsStored ? new MovedFrom(dying.Entry.Index, dying.Entry.StoreSeq)
                    : MovedFrom.InMemory;
                var write = Publish(letter, scratch, out var routed, out var rejected, from: from);
                var acked = scratch.SourceAcked;
                await write.ConfigureAwait(false);
                kept = routed && !rejected;
                storeAcked = acked;
                why = !routed ? $"exchange '{exchange}' routed it nowhere" : "a target queue is full and refuses it";
            }
#pragma warning disable CA1031 // A dead letter that cannot be placed stays where it is; nothing here may lose it.
            catch (Exception ex)
#pragma warning restore CA1031
            {
                kept = false;
                why = ex.Message;
            }

            if (settings.AtMostOnceDeadLettering)
            {
                continue;
            }

            if (kept)
            {
                source.CompleteDeadLetter(dying.Entry, storeAcked);
            }
            else
            {
                source.KeepUndeliverable(dying);
                _events.DeadLetterKept(Name, source.Name, dying.Reason, why);
            }
        }
    }

    // ---- policies ----

    public IReadOnlyCollection<PolicyDefinition> Policies => [.. _policies.Values];

    /// <summary>Adds or replaces a policy, durably, and applies it at once to every queue and exchange it matches.</summary>
    public async Task SetPolicyAsync(PolicyDefinition policy, CancellationToken cancellationToken = default)
    {
        PolicyResolver.Validate(policy, Name);
        await _topologyGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await Durably(_store.PutMetadataAsync(TopologyFormat.PolicyKey(Name, policy.Name), TopologyFormat.Encode(policy), FlushPolicy.Sync)).ConfigureAwait(false);
            _policies = _policies.SetItem(policy.Name, policy);
            ReapplyPoliciesLocked();
        }
        finally
        {
            _topologyGate.Release();
        }
    }

    /// <returns>False when there was no such policy.</returns>
    public async Task<bool> ClearPolicyAsync(string name, CancellationToken cancellationToken = default)
    {
        await _topologyGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (!_policies.ContainsKey(name))
            {
                return false;
            }

            await Durably(_store.DeleteMetadataAsync(TopologyFormat.PolicyKey(Name, name), FlushPolicy.Sync)).ConfigureAwait(false);
            _policies = _policies.Remove(name);
            ReapplyPoliciesLocked();
            return true;
        }
        finally
        {
            _topologyGate.Release();
        }
    }

    internal void RestorePolicy(PolicyDefinition policy) => _policies = _policies.SetItem(policy.Name, policy);

    /// <summary>At start, once everything is restored: exchanges read before their policy get its alternate exchange.</summary>
    internal void ApplyRestoredPolicies()
    {
        if (!_policies.IsEmpty)
        {
            ReapplyPoliciesLocked();
        }
    }

    private IReadOnlyDictionary<string, object?> EffectiveArguments(QueueDefinition queue) =>
        PolicyResolver.EffectiveQueueArguments(queue.Arguments, PolicyResolver.Match(_policies.Values, queue.Name, isQueue: true));

    /// <summary>
    /// The effective arguments of a queue being created (its record may be written already) or restored, without any
    /// it cannot use: a queue that failed here would be lost to its clients, or stop the broker starting.
    /// </summary>
    private IReadOnlyDictionary<string, object?> UsableArguments(QueueDefinition queue)
    {
        var effective = EffectiveArguments(queue);
        var where = new QueueContext(queue.Name, Name);
        if (QueueArgumentCheck.IsUsable(effective, where, out var error))
        {
            return effective;
        }

        var usable = QueueArgumentCheck.UsableSubset(effective, where);
        Events.ArgumentsIgnored(Name, queue.Name, $"{error}; left out: {string.Join(", ", effective.Keys.Where(k => !usable.ContainsKey(k)).Order(StringComparer.Ordinal))}");
        return usable;
    }

    private void ReapplyPoliciesLocked()
    {
        var topology = _topology;
        foreach (var queue in topology.Queues.Values)
        {
            // Without any value the queue cannot use (one it was stored with by an older version): the rest
            // still follows policies as they are set and cleared.
            queue.ApplyArguments(UsableArguments(queue.Definition));
        }

        var routes = topology.Routes;
        foreach (var exchange in topology.Exchanges.Values)
        {
            if (routes.Find(exchange.Name) is { } current)
            {
                var alternate = PolicyResolver.EffectiveAlternateExchange(exchange, PolicyResolver.Match(_policies.Values, exchange.Name, isQueue: false));
                routes = routes.WithExchange(current.WithAlternateExchange(alternate));
            }
        }

        _topology = _topology with { Routes = routes };
    }

    // ---- queue expiry ----

    Task IQueueHost.ExpireAsync(MessageQueue queue) => DeleteOwnedAsync(queue);

    void IQueueHost.RecordRetry(MessageQueue queue, long storeSeq, long? dueMs)
    {
        var key = TopologyFormat.RetryKey(Name, queue.Name, storeSeq);
        ValueTask write;
        if (dueMs is { } due)
        {
            var value = new byte[8];
            System.Buffers.Binary.BinaryPrimitives.WriteInt64LittleEndian(value, due);
            write = _store.PutMetadataAsync(key, value, FlushPolicy.Async);
        }
        else
        {
            write = _store.DeleteMetadataAsync(key, FlushPolicy.Async);
        }

        _ = ObserveRecordAsync(write);
    }

    /// <summary>Restores the back-off of messages that were waiting out a retry delay; their records go once the queue has them.</summary>
    internal void RestoreRetries(string queueName, Dictionary<long, long> dueByStoreSeq)
    {
        var found = FindQueue(queueName)?.RestoreRetries(dueByStoreSeq) ?? [];
        foreach (var seq in dueByStoreSeq.Keys)
        {
            if (!found.Contains(seq))
            {
                // Its queue or message is gone: the record is stale.
                _ = ObserveRecordAsync(_store.DeleteMetadataAsync(TopologyFormat.RetryKey(Name, queueName, seq), FlushPolicy.Async));
            }
        }
    }

    private static async Task ObserveRecordAsync(ValueTask write)
    {
        try
        {
            await write.ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is StorageFailedException or DiskFullException or ObjectDisposedException)
        {
            // A lost lease or retry record only makes a lease end later, or a back-off shorter, after a restart; no message depends on it.
        }
    }

    void IQueueHost.RecordLastUse(MessageQueue queue, long lastUsedMs)
    {
        if (queue.Stored is null)
        {
            return; // A queue that does not survive a restart needs no record of its lease.
        }

        var value = new byte[8];
        System.Buffers.Binary.BinaryPrimitives.WriteInt64LittleEndian(value, lastUsedMs);
        // Without the record a restart counts the lease from the restart: later, never earlier.
        _ = ObserveRecordAsync(_store.PutMetadataAsync(TopologyFormat.LastUseKey(Name, queue.Name), value, FlushPolicy.Async));
    }

    // ---- recovery ----

    internal void RestoreExchange(ExchangeDefinition exchange)
    {
        if (FindExchange(exchange.Name) is null)
        {
            AddExchange(exchange);
        }
    }

    internal void RestoreQueue(QueueDefinition definition, StoredQueue stored)
    {
        var queue = new MessageQueue(Name, definition, null, stored, _store, _memory, _time, this, UsableArguments(definition));
        queue.Recover(_store.ListLive(stored));
        AddQueue(queue);
        if (queue.Settings.ExpiresMs is not null)
        {
            // Err late: the last use may have come up to one recording interval after the one written down.
            var recorded = _store.TryGetMetadata(TopologyFormat.LastUseKey(Name, queue.Name), out var bytes) && bytes!.Length == 8
                ? System.Buffers.Binary.BinaryPrimitives.ReadInt64LittleEndian(bytes)
                : _time.GetUtcNow().ToUnixTimeMilliseconds();
            queue.RestoreLastUse(recorded + queue.LastUseRecordingIntervalMs);
        }
    }

    /// <summary>Restores a binding if both its ends were restored; false when one is gone (the caller drops its record).</summary>
    internal bool RestoreBinding(string source, Binding binding)
    {
        var topology = _topology;
        var destinationExists = binding.Destination.Kind == DestinationKind.Queue
            ? topology.Queues.ContainsKey(binding.Destination.Name)
            : topology.Exchanges.ContainsKey(binding.Destination.Name);
        if (topology.Routes.Find(source) is not { } routes || !destinationExists)
        {
            return false;
        }

        _topology = topology with { Routes = topology.Routes.WithExchange(routes.WithBinding(binding)) };
        return true;
    }

    // ---- internals ----

    private async Task ChangeBindingAsync(string source, Destination destination, string routingKey, IReadOnlyDictionary<string, object?> arguments, long connectionId, bool bind, CancellationToken cancellationToken)
    {
        if (source.Length == 0 || (destination.Kind == DestinationKind.Exchange && destination.Name.Length == 0))
        {
            throw new BrokerException(BrokerErrorKind.AccessRefused, "operation not permitted on the default exchange");
        }

        await _topologyGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var topology = _topology;
            bool durableDestination;
            if (destination.Kind == DestinationKind.Queue)
            {
                var queue = FindQueue(destination.Name) ?? throw BrokerException.NoQueue(Name, destination.Name);
                CheckExclusiveAccess(queue, connectionId);
                durableDestination = queue.Stored is not null;
            }
            else
            {
                durableDestination = (FindExchange(destination.Name) ?? throw BrokerException.NoExchange(Name, destination.Name)).Durable;
            }

            var exchange = FindExchange(source) ?? throw BrokerException.NoExchange(Name, source);
            var routes = topology.Routes.Find(source)!;
            var binding = new Binding(destination, routingKey, arguments.Count == 0 ? null : arguments);
            var present = routes.Bindings.Contains(binding);
            if (present == bind)
            {
                return;
            }

            if (exchange.Durable && durableDestination)
            {
                var encoded = TopologyFormat.Encode(source, binding);
                var key = TopologyFormat.BindingKey(Name, encoded);
                await Durably(bind ? _store.PutMetadataAsync(key, encoded, FlushPolicy.Sync) : _store.DeleteMetadataAsync(key, FlushPolicy.Sync)).ConfigureAwait(false);
            }

            var changed = bind ? routes.WithBinding(binding) : routes.WithoutBinding(binding);
            _topology = _topology with { Routes = _topology.Routes.WithExchange(changed) };
            if (!bind)
            {
                await DeleteIfAutoDeleteUnusedLockedAsync([source]).ConfigureAwait(false);
            }
        }
        finally
        {
            _topologyGate.Release();
        }
    }

    private async Task<long> RemoveQueueLockedAsync(MessageQueue queue)
    {
        var sources = await ForgetBindingsToLockedAsync(Destination.Queue(queue.Name)).ConfigureAwait(false);
        if (queue.Stored is { } stored)
        {
            // Metadata first: a crash between the two leaves an index nobody names, which the next start deletes.
            await Durably(_store.DeleteMetadataAsync(TopologyFormat.QueueKey(Name, queue.Name), FlushPolicy.Sync)).ConfigureAwait(false);
            if (_store.HasMetadata(TopologyFormat.LastUseKey(Name, queue.Name)))
            {
                await Durably(_store.DeleteMetadataAsync(TopologyFormat.LastUseKey(Name, queue.Name), FlushPolicy.Async)).ConfigureAwait(false);
            }
            await Durably(_store.DeleteQueueAsync(stored, FlushPolicy.Sync)).ConfigureAwait(false);
        }

        var topology = _topology;
        _topology = topology with { Queues = topology.Queues.Remove(queue.Name), Routes = topology.Routes.WithoutQueue(queue.Name) };
        var consumers = queue.MarkDeleted(out var messageCount);
        if (queue.PageIndex is { } page)
        {
            await Durably(_store.DeleteQueueAsync(page, FlushPolicy.Async)).ConfigureAwait(false);
        }

        foreach (var consumer in consumers)
        {
            consumer.Channel.CancelledByBroker(consumer);
        }

        await DeleteIfAutoDeleteUnusedLockedAsync(sources).ConfigureAwait(false);
        return messageCount;
    }

    private async Task RemoveExchangeLockedAsync(ExchangeDefinition exchange)
    {
        if (_topology.Routes.Find(exchange.Name) is { } routes)
        {
            foreach (var binding in routes.Bindings)
            {
                await ForgetDurableBindingAsync(exchange.Name, binding).ConfigureAwait(false);
            }
        }

        var sources = await ForgetBindingsToLockedAsync(Destination.Exchange(exchange.Name)).ConfigureAwait(false);
        if (exchange.Durable)
        {
            await Durably(_store.DeleteMetadataAsync(TopologyFormat.ExchangeKey(Name, exchange.Name), FlushPolicy.Sync)).ConfigureAwait(false);
        }

        var topology = _topology;
        _topology = topology with { Exchanges = topology.Exchanges.Remove(exchange.Name), Routes = topology.Routes.WithoutExchange(exchange.Name) };
        sources.Remove(exchange.Name);
        await DeleteIfAutoDeleteUnusedLockedAsync(sources).ConfigureAwait(false);
    }

    /// <summary>Deletes the stored records of every binding leading to <paramref name="destination"/>; returns the exchanges they came from.</summary>
    private async Task<HashSet<string>> ForgetBindingsToLockedAsync(Destination destination)
    {
        var sources = new HashSet<string>(StringComparer.Ordinal);
        foreach (var routes in _topology.Routes.Exchanges)
        {
            foreach (var binding in routes.Bindings)
            {
                if (binding.Destination == destination)
                {
                    sources.Add(routes.Name);
                    await ForgetDurableBindingAsync(routes.Name, binding).ConfigureAwait(false);
                }
            }
        }

        return sources;
    }

    private async Task ForgetDurableBindingAsync(string source, Binding binding)
    {
        var encoded = TopologyFormat.Encode(source, binding);
        var key = TopologyFormat.BindingKey(Name, encoded);
        if (_store.HasMetadata(key))
        {
            await Durably(_store.DeleteMetadataAsync(key, FlushPolicy.Sync)).ConfigureAwait(false);
        }
    }

    /// <summary>An auto-delete exchange goes when its last binding does, as in RabbitMQ.</summary>
    private async Task DeleteIfAutoDeleteUnusedLockedAsync(IEnumerable<string> sources)
    {
        foreach (var source in sources.ToList())
        {
            if (FindExchange(source) is { AutoDelete: true } exchange && (_topology.Routes.Find(source)?.Bindings.IsEmpty ?? true))
            {
                await RemoveExchangeLockedAsync(exchange).ConfigureAwait(false);
            }
        }
    }

    private void AddExchange(ExchangeDefinition exchange)
    {
        var topology = _topology;
        var alternate = PolicyResolver.EffectiveAlternateExchange(exchange, PolicyResolver.Match(_policies.Values, exchange.Name, isQueue: false));
        _topology = topology with
        {
            Exchanges = topology.Exchanges.SetItem(exchange.Name, exchange),
            Routes = topology.Routes.WithExchange(ExchangeRoutes.Create(exchange.Name, exchange.Kind, alternate)),
        };
    }

    private void AddQueue(MessageQueue queue)
    {
        var topology = _topology;
        _topology = topology with { Queues = topology.Queues.SetItem(queue.Name, queue) };
    }

    private static QueueDeclareResult Describe(MessageQueue queue) => new(queue.Name, queue.ReadyCount, queue.ConsumerCount);

    internal void CheckExclusiveAccess(MessageQueue queue, long connectionId)
    {
        if (queue.ExclusiveOwner is { } owner && owner != connectionId)
        {
            throw LockedQueue(queue);
        }
    }

    private BrokerException LockedQueue(MessageQueue queue) => new(
        BrokerErrorKind.ResourceLocked,
        $"cannot obtain exclusive access to locked queue '{queue.Name}' in vhost '{Name}'. It could be originally declared on another connection or the exclusive property value does not match that of the original declaration.");

    private void CheckEquivalent(ExchangeDefinition current, ExchangeDefinition received)
    {
        if (current.Kind != received.Kind || current.DelayedMessage != received.DelayedMessage)
        {
            throw Inequivalent("type", "exchange", current.Name, received.TypeName, current.TypeName);
        }

        if (current.Durable != received.Durable)
        {
            throw Inequivalent("durable", "exchange", current.Name, Lower(received.Durable), Lower(current.Durable));
        }

        if (current.AutoDelete != received.AutoDelete)
        {
            throw Inequivalent("auto_delete", "exchange", current.Name, Lower(received.AutoDelete), Lower(current.AutoDelete));
        }

        if (current.Internal != received.Internal)
        {
            throw Inequivalent("internal", "exchange", current.Name, Lower(received.Internal), Lower(current.Internal));
        }

        if (!string.Equals(current.AlternateExchange, received.AlternateExchange, StringComparison.Ordinal))
        {
            throw Inequivalent("alternate-exchange", "exchange", current.Name, received.AlternateExchange ?? "none", current.AlternateExchange ?? "none");
        }
    }

    private void CheckEquivalent(MessageQueue queue, QueueDefinition received)
    {
        var current = queue.Definition;
        if (current.Durable != received.Durable)
        {
            throw Inequivalent("durable", "queue", current.Name, Lower(received.Durable), Lower(current.Durable));
        }

        if (current.AutoDelete != received.AutoDelete)
        {
            throw Inequivalent("auto_delete", "queue", current.Name, Lower(received.AutoDelete), Lower(current.AutoDelete));
        }

        if (current.Exclusive != received.Exclusive)
        {
            throw Inequivalent("exclusive", "queue", current.Name, Lower(received.Exclusive), Lower(current.Exclusive));
        }

        if (QueueArguments.FirstDifference(received.Arguments, current.Arguments) is { } argument)
        {
            // RabbitMQ's wording: plain values when both sides have one, "the value 'v' of type 't'" against "none".
            var hasReceived = received.Arguments.TryGetValue(argument, out var receivedValue);
            var hasCurrent = current.Arguments.TryGetValue(argument, out var currentValue);
            var receivedText = !hasReceived ? "none" : hasCurrent ? $"'{TopologyArguments.Describe(receivedValue)}'" : $"the value '{TopologyArguments.Describe(receivedValue)}' of type '{TopologyArguments.TypeName(receivedValue)}'";
            var currentText = !hasCurrent ? "none" : hasReceived ? $"'{TopologyArguments.Describe(currentValue)}'" : $"the value '{TopologyArguments.Describe(currentValue)}' of type '{TopologyArguments.TypeName(currentValue)}'";
            throw new BrokerException(BrokerErrorKind.PreconditionFailed, $"inequivalent arg '{argument}' for queue '{current.Name}' in vhost '{Name}': received {receivedText} but current is {currentText}");
        }
    }

    private BrokerException Inequivalent(string argument, string what, string name, string received, string current) =>
        new(BrokerErrorKind.PreconditionFailed, $"inequivalent arg '{argument}' for {what} '{name}' in vhost '{Name}': received '{received}' but current is '{current}'");

    private static string Lower<T>(T value) => (value?.ToString() ?? "none").ToLowerInvariant();

    private static string RandomSuffix()
    {
        Span<byte> bytes = stackalloc byte[16];
        RandomNumberGenerator.Fill(bytes);
        return Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
    }

    /// <summary>A storage failure during a topology change reaches the client as a resource error, never as success.</summary>
    private static async Task Durably(ValueTask write)
    {
        try
        {
            await write.ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is StorageFailedException or DiskFullException or ObjectDisposedException)
        {
            throw new BrokerException(BrokerErrorKind.ResourceError, "the broker could not store the change: " + ex.Message, ex);
        }
    }

    private static async Task<T> Durably<T>(Task<T> write)
    {
        try
        {
#pragma warning disable VSTHRD003 // The store's own task; the store has no context to deadlock on.
            return await write.ConfigureAwait(false);
#pragma warning restore VSTHRD003
        }
        catch (Exception ex) when (ex is StorageFailedException or DiskFullException or ObjectDisposedException)
        {
            throw new BrokerException(BrokerErrorKind.ResourceError, "the broker could not store the change: " + ex.Message, ex);
        }
    }
}
