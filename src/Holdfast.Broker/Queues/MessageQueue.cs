using Holdfast.Broker.Messages;
using Holdfast.Broker.Sessions;
using Holdfast.Broker.Topology;
using Holdfast.Storage;

namespace Holdfast.Broker.Queues;

/// <summary>
/// A queue: its ready messages in order, its consumers, and (when durable) its index in the store.
/// </summary>
/// <remarks>
/// One lock guards the queue's memory; it is never held across I/O waits. Deliveries are made with
/// it held (taking the consuming channel's lock inside, never the other way round), so that a
/// channel's delivery tags go out in order. Messages requeued go back to their original place:
/// ready messages come from the tail of publishes and from a heap of returned ones, whichever holds
/// the lower sequence number.
/// </remarks>
public sealed class MessageQueue
{
    private readonly Lock _gate = new();
    private readonly ReadyList _ready;
    private readonly List<Consumer> _consumers = [];
    private readonly MessageStore _store;
    private readonly MessageMemory _memory;
    private readonly TimeProvider _time;
    private readonly IQueueHost? _host;
    private readonly List<DyingMessage> _dying = [];
    private readonly List<DyingMessage> _undeliverable = [];
    private readonly Queue<QueuedMessage> _releaseCandidates = new();
    private readonly ITimer _expiryTimer;
    private long _expiryDueMs = long.MaxValue;
    private bool _perMessageTtlSeen;

    // The message whose arrival is being dispatched: its TTL is judged by the pass that follows the
    // dispatch, not by a clock that may have ticked since its arrival was stamped (under load, a
    // message with a TTL of 0 would otherwise miss the consumer that was waiting for it).
    private QueuedMessage? _arriving;
    private long _deadLetterFailures;
    private long _lastUsedMs;
    private long _lastRecordedMs;
    private readonly ITimer? _leaseTimer;
    private readonly PriorityQueue<QueuedMessage, long> _retrying = new();
    private readonly ITimer? _retryTimer;
    private Task<StoredQueue>? _pageDeclare;
    private int _nextConsumer;
    private long _nextSeq;
    private long _unacked;
    private long _readyBytes;
    private bool _hadConsumer;
    private bool _deleted;

    internal MessageQueue(string virtualHost, QueueDefinition definition, long? exclusiveOwner, StoredQueue? stored, MessageStore store, MessageMemory memory, TimeProvider? time = null, IQueueHost? deadLetters = null, IReadOnlyDictionary<string, object?>? effectiveArguments = null)
    {
        _time = time ?? TimeProvider.System;
        _host = deadLetters;
        var arguments = effectiveArguments ?? definition.Arguments;
        Settings = QueueSettings.From(arguments);
        VirtualHost = virtualHost;
        Definition = definition;
        ExclusiveOwner = exclusiveOwner;
        Stored = stored;
        _store = store;
        _memory = memory;
        Limits = QueueLimits.From(arguments);
        _ready = ReadyList.Create(Settings.MaxPriority);

        // Made up front, disarmed: a timer created while the lock is held could fire (a test clock fires
        // a due timer inside CreateTimer) before its field is set.
        _expiryTimer = _time.CreateTimer(static state => ((MessageQueue)state!).OnTimer(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        _leaseTimer = _time.CreateTimer(static state => ((MessageQueue)state!).OnLeaseTimer(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        _retryTimer = _time.CreateTimer(static state => ((MessageQueue)state!).OnRetryTimer(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
    }

    /// <summary>Length limits in force: the queue's arguments combined with the policy that applies (they change with policies).</summary>
    internal QueueLimits Limits { get; private set; }

    internal QueueSettings Settings { get; private set; }

    /// <summary>Declared as a quorum queue (<c>x-queue-type</c>): same engine here, but a few RabbitMQ quorum-queue conventions show.</summary>
    private bool IsQuorum => TopologyArguments.GetString(Definition.Arguments, "x-queue-type") == "quorum";

    /// <summary>
    /// A policy changed: the queue now runs under these combined arguments. Priority is fixed at
    /// declare, as in RabbitMQ; everything else (TTL, limits, dead-lettering, expiry, retries) takes effect at once.
    /// </summary>
    internal void ApplyArguments(IReadOnlyDictionary<string, object?> effective)
    {
        var settings = QueueSettings.From(effective) with { MaxPriority = Settings.MaxPriority };
        var limits = QueueLimits.From(effective);
        lock (_gate)
        {
            Settings = settings;
            Limits = limits;
            if (_deleted)
            {
                return;
            }

            DropHeadOverLimitLocked();
            ExpireHeadsLocked(_time.GetUtcNow().ToUnixTimeMilliseconds(), zeroTtlToo: false);
            ArmLeaseLocked();
        }

        RunDeadLetters();
    }

    /// <summary>Messages that should have been dead-lettered but had nowhere to go, so they stayed (at-least-once dead-lettering).</summary>
    public long DeadLetterFailures => Interlocked.Read(ref _deadLetterFailures);

    /// <summary>Messages waiting for a dead-letter route to appear; they are retried, never dropped.</summary>
    public int UndeliverableCount
    {
        get
        {
            lock (_gate)
            {
                return _undeliverable.Count;
            }
        }
    }

    public string Name => Definition.Name;

    public string VirtualHost { get; }

    public QueueDefinition Definition { get; }

    /// <summary>The connection an exclusive queue belongs to.</summary>
    public long? ExclusiveOwner { get; }

    internal StoredQueue? Stored { get; }

    /// <summary>Where this queue pages messages under memory pressure; made on first need, deleted with the queue and at every start.</summary>
    internal StoredQueue? PageIndex { get; private set; }

    /// <summary>The store-name prefix of page indexes, which no restart keeps.</summary>
    internal const string PagePrefix = "~page/";

    public long ReadyCount
    {
        get
        {
            lock (_gate)
            {
                return _ready.Count;
            }
        }
    }

    public long UnackedCount
    {
        get
        {
            lock (_gate)
            {
                return _unacked;
            }
        }
    }

    public int ConsumerCount
    {
        get
        {
            lock (_gate)
            {
                return _consumers.Count;
            }
        }
    }

    internal bool IsDeleted
    {
        get
        {
            lock (_gate)
            {
                return _deleted;
            }
        }
    }

    /// <summary>Loads the unacked messages a durable queue had in the store; their bodies are read when first delivered.</summary>
    internal void Recover(IReadOnlyList<StoredEntry> entries)
    {
        lock (_gate)
        {
            foreach (var entry in entries)
            {
                // Whether a recovered message reached a consumer before the restart is not journalled,
                // so every one is flagged as possibly delivered: a hint that must never say "new" wrongly.
                _ready.Add(new QueuedMessage(_nextSeq++, Stored, entry.Seq, null, entry.DeliveryCount, redelivered: true) { RecoveredSize = entry.RecordLength, ExpiresAtMs = -1 });
                _readyBytes += entry.RecordLength;
            }

            if (Settings.MaxPriority > 0)
            {
                // A priority queue needs each message's priority to order it: read them now (such queues are small by nature).
                foreach (var recovered in _ready.Drain())
                {
                    if (LoadLocked(recovered))
                    {
                        recovered.Priority = Math.Min(recovered.Message!.Properties.Priority ?? 0, Settings.MaxPriority);
                        _ready.Add(recovered);
                    }
                }
            }

            // Recovered messages may carry TTLs whose time ran on while the broker was down.
            _perMessageTtlSeen = entries.Count > 0;
            ScheduleExpiryLocked();
        }
    }

    /// <returns>The queue's entry for the message, or null when the queue is gone.</returns>
    internal QueuedMessage? Enqueue(BrokerMessage message, StoredQueue? index, long storeSeq, long arrivedAtMs)
    {
        QueuedMessage? entry;
        lock (_gate)
        {
            if (_deleted)
            {
                return null;
            }

            entry = new QueuedMessage(_nextSeq++, storeSeq >= 0 ? index : null, storeSeq, message, 0, redelivered: false) { ArrivedAtMs = arrivedAtMs, Priority = Math.Min(message.Properties.Priority ?? 0, Settings.MaxPriority) };
            SetExpiry(entry, message);
            Hold(entry);
            _ready.Add(entry);
            _readyBytes += message.Body.Length;
            _arriving = entry;
            try
            {
                DispatchLocked();
            }
            finally
            {
                _arriving = null;
            }

            DropHeadOverLimitLocked();

            // A TTL of 0 means "deliver now or never": what no consumer took at once expires now.
            ExpireHeadsLocked(_time.GetUtcNow().ToUnixTimeMilliseconds(), zeroTtlToo: true);
            if (entry.InReadyList && entry.IsStored && entry.Index == Stored && (_ready.Count > ResidentReadyMessages || _readyBytes > ResidentReadyBytes))
            {
                _releaseCandidates.Enqueue(entry);
            }

            ReleaseWrittenBodiesLocked();
        }

        RunDeadLetters();
        return entry;
    }

    /// <summary>The page index, or null while it is still being made (the message then stays in memory).</summary>
    internal StoredQueue? PageIndexOrStart()
    {
        lock (_gate)
        {
            if (PageIndex is not null || _deleted)
            {
                return PageIndex;
            }

            if (_pageDeclare is null)
            {
                _pageDeclare = _store.DeclareQueueAsync(PagePrefix + Guid.NewGuid().ToString("N"), FlushPolicy.Async);
                _ = AdoptPageIndexAsync(_pageDeclare);
            }

            return null;
        }
    }

    /// <summary>
    /// A deep durable queue keeps only its head in memory: a stored message that arrives behind this
    /// many ready messages (or bytes) gives up its body once its record is written, and is read back
    /// from the store when it nears delivery. The log holds the bytes anyway (and the page cache
    /// usually too); a second copy on the managed heap would cost memory, then GC time, per message.
    /// </summary>
    internal const int ResidentReadyMessages = 2048;

    internal const long ResidentReadyBytes = 8L << 20;

    /// <summary>Drops the bodies of release candidates whose records are written (in arrival order, so the sweep stops at the first that is not).</summary>
    private void ReleaseWrittenBodiesLocked()
    {
        if (_releaseCandidates.Count == 0 || Stored is not { } stored)
        {
            return;
        }

        var written = stored.WrittenNext;
        while (_releaseCandidates.TryPeek(out var candidate) && candidate.StoreSeq < written)
        {
            _releaseCandidates.Dequeue();

            // Taken meanwhile (delivered, expired, dying): it stays as it is.
            if (candidate.InReadyList)
            {
                DropBodyLocked(candidate);
            }
        }
    }

    /// <summary>Once a paged message's record is written, its body leaves memory; it is read back when delivered.</summary>
    internal void ReleaseBody(QueuedMessage entry)
    {
        lock (_gate)
        {
            DropBodyLocked(entry);
        }
    }

    /// <summary>A stored message's body leaves memory (read back when needed); one on its way to the dead-letter exchange keeps it until it has arrived.</summary>
    private void DropBodyLocked(QueuedMessage entry)
    {
        if (entry.IsStored && entry.Message is not null && !entry.Leaving)
        {
            Forget(entry);
            entry.Message = null;
        }
    }

    /// <summary>For reject-publish queues: whether one more message of this size would go over a limit, so the publisher must get a nack.</summary>
    internal bool RejectsPublish(long bodySize)
    {
        if (!Limits.RejectsNewest)
        {
            return false;
        }

        lock (_gate)
        {
            return Limits.Exceeded(_ready.Count + 1, _readyBytes + bodySize);
        }
    }

    internal Consumer AddConsumer(BrokerChannel channel, string tag, bool noAck, bool exclusive, int prefetchCount, long prefetchBytes)
    {
        lock (_gate)
        {
            if (_deleted)
            {
                throw BrokerException.NoQueue(VirtualHost, Name);
            }

            if (_consumers.Count > 0 && (exclusive || _consumers[0].Exclusive))
            {
                throw new BrokerException(BrokerErrorKind.AccessRefused, $"queue '{Name}' in vhost '{VirtualHost}' in exclusive use");
            }

            var consumer = new Consumer(tag, channel, this, noAck, exclusive, prefetchCount, prefetchBytes);
            _consumers.Add(consumer);
            _hadConsumer = true;
            _leaseTimer?.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
            return consumer;
        }
    }

    /// <returns>True when this was the last consumer of an auto-delete queue, which its owner must now delete.</returns>
    internal bool RemoveConsumer(Consumer consumer)
    {
        lock (_gate)
        {
            consumer.Cancelled = true;
            _consumers.Remove(consumer);
            if (_consumers.Count == 0)
            {
                TouchLocked(); // Unused from now: the x-expires lease starts.
            }

            return !_deleted && _consumers.Count == 0 && _hadConsumer && Definition.AutoDelete;
        }
    }

    /// <summary>
    /// Takes the next ready message for basic.get; the channel sends it (through <paramref name="send"/>, with this
    /// queue's lock held) and registers it, or, with no-ack, it is settled at once. Settled only once sent: when
    /// <paramref name="send"/> throws, the message keeps its place and the exception goes to the caller.
    /// </summary>
    internal GetResult? Get(BrokerChannel channel, bool noAck, Action<GetResult>? send)
    {
        try
        {
            return GetLocked(channel, noAck, send);
        }
        finally
        {
            RunDeadLetters();
        }
    }

    private GetResult? GetLocked(BrokerChannel channel, bool noAck, Action<GetResult>? send)
    {
        lock (_gate)
        {
            TouchLocked();
            while (TryTakeLiveLocked(out var entry))
            {
                GetResult got;
                try
                {
                    // A quorum queue's basic.get shows the count from 0, as RabbitMQ's does.
                    got = channel.SendGot(this, entry, WithDeliveryCount(entry, includeZero: IsQuorum), _ready.Count, noAck, send);
                }
                catch
                {
                    // Nobody saw it: back in its place, not redelivered, as a refused delivery goes back.
                    _ready.Return(entry);
                    _readyBytes += entry.ReadySize;
                    throw;
                }

                if (noAck)
                {
                    SettleLocked(entry);
                }
                else
                {
                    _unacked++;
                }

                return got;
            }

            return null;
        }
    }

    /// <summary>Acks messages delivered from this queue: they are gone (durably, at the store's pace; a lost ack only means a redelivery).</summary>
    internal void Ack(List<QueuedMessage> entries)
    {
        lock (_gate)
        {
            _unacked -= entries.Count;
            foreach (var entry in entries)
            {
                Forget(entry);
            }

            if (!_deleted)
            {
                StoreAck(entries);
            }
        }
    }

    /// <summary>Rejected without requeue: dead-lettered (reason "rejected") when the queue has a dead-letter exchange, else gone.</summary>
    internal void Reject(List<QueuedMessage> entries)
    {
        if (!Settings.DeadLetters)
        {
            Ack(entries);
            return;
        }

        lock (_gate)
        {
            _unacked -= entries.Count;
            if (_deleted)
            {
                ForgetAll(entries);
                return;
            }

            foreach (var entry in entries)
            {
                DieLocked(entry, "rejected");
            }
        }

        RunDeadLetters();
    }

    /// <summary>Puts delivered messages back in their original places, flagged redelivered, and counts the delivery (durably for stored ones).</summary>
    internal void Requeue(List<QueuedMessage> entries, bool afterFailure = false)
    {
        lock (_gate)
        {
            _unacked -= entries.Count;
            if (_deleted)
            {
                // The queue went while these were out: nothing to go back to, and nothing left to hold in memory.
                ForgetAll(entries);
                return;
            }

            foreach (var entry in entries)
            {
                entry.Redelivered = true;
                entry.DeliveryCount++;
                if (Settings.DeliveryLimit is { } limit && entry.DeliveryCount > limit)
                {
                    // A poison message stops here: dead-lettered when it can be, dropped only when the queue has no dead-letter exchange.
                    if (Settings.DeadLetters)
                    {
                        DieLocked(entry, "delivery_limit");
                    }
                    else
                    {
                        Forget(entry);
                        StoreAck([entry]);
                    }

                    continue;
                }

                if (entry.IsStored && entry.Index == Stored)
                {
                    Observe(_store.RequeueAsync(Stored!, entry.StoreSeq, FlushPolicy.Async));
                }

                if (afterFailure && Settings.RetryDelayMs(entry.DeliveryCount) is > 0 and var delay)
                {
                    // Back-off: the message waits out its delay (stored and counted all the while), then takes its place again.
                    var due = _time.GetUtcNow().ToUnixTimeMilliseconds() + delay;
                    _retrying.Enqueue(entry, due);
                    if (entry.IsStored && entry.Index == Stored)
                    {
                        _host?.RecordRetry(this, entry.StoreSeq, due);
                    }

                    ArmRetryTimerLocked();
                    continue;
                }

                _ready.Return(entry);
                _readyBytes += entry.ReadySize;
            }

            DispatchLocked();
            ScheduleExpiryLocked();
        }

        RunDeadLetters();
    }

    /// <summary>Offers ready messages to consumers with room for them.</summary>
    internal void Dispatch()
    {
        lock (_gate)
        {
            DispatchLocked();
        }

        RunDeadLetters();
    }

    /// <summary>A dead-lettered message has its new home (or, at-most-once, was let go): it leaves this queue for good.</summary>
    /// <param name="storeAcked">The record that stored its new copies acked it in the store already.</param>
    internal void CompleteDeadLetter(QueuedMessage entry, bool storeAcked = false)
    {
        lock (_gate)
        {
            Forget(entry);
            if (!_deleted && !storeAcked)
            {
                StoreAck([entry]);
            }
        }
    }

    /// <summary>
    /// A dead-lettered message found no home (no route, or its target refused it): at-least-once
    /// dead-lettering keeps it, stored and counted, and tries again later. Never dropped.
    /// </summary>
    internal void KeepUndeliverable(DyingMessage message)
    {
        Interlocked.Increment(ref _deadLetterFailures);
        lock (_gate)
        {
            if (_deleted)
            {
                Forget(message.Entry);
                return;
            }

            _undeliverable.Add(message);
            _expiryDueMs = Math.Min(_expiryDueMs, _time.GetUtcNow().ToUnixTimeMilliseconds() + (long)UndeliverableRetry.TotalMilliseconds);
            ArmTimerLocked();
        }
    }

    private static readonly TimeSpan UndeliverableRetry = TimeSpan.FromSeconds(5);

    /// <summary>Removes every ready message; delivered ones stay until acked or requeued. Returns how many were removed.</summary>
    internal long Purge()
    {
        lock (_gate)
        {
            var removed = _ready.Drain();
            _readyBytes = 0;
            foreach (var entry in removed)
            {
                Forget(entry);
            }

            StoreAck(removed);
            return removed.Count;
        }
    }

    /// <summary>Marks the queue deleted and returns its consumers, which the broker cancels. Its messages go with the store's index.</summary>
    internal List<Consumer> MarkDeleted(out long messageCount)
    {
        lock (_gate)
        {
            _deleted = true;
            _expiryTimer.Dispose();
            _leaseTimer?.Dispose();
            _retryTimer?.Dispose();
            foreach (var (entry, _) in _retrying.UnorderedItems)
            {
                Forget(entry);
            }

            _retrying.Clear();
            foreach (var gone in _undeliverable.Concat(_dying))
            {
                Forget(gone.Entry);
            }

            _undeliverable.Clear();
            _dying.Clear();
            messageCount = _ready.Count;
            foreach (var entry in _ready.Drain())
            {
                Forget(entry);
            }

            _readyBytes = 0;
            var consumers = new List<Consumer>(_consumers);
            foreach (var consumer in consumers)
            {
                consumer.Cancelled = true;
            }

            _consumers.Clear();
            return consumers;
        }
    }

    private void DispatchLocked()
    {
        var refusals = 0;
        while (_consumers.Count > 0 && _ready.Count > 0)
        {
            var consumer = NextConsumerWithRoomLocked();
            if (consumer is null || !TryTakeLiveLocked(out var entry))
            {
                return;
            }

            if (!consumer.Channel.TryDeliver(consumer, entry, WithDeliveryCount(entry)))
            {
                // The channel closed between the look and the delivery, or could not send this message: it keeps
                // its place, and the others are asked. That channel has no room from now on; the bound only
                // guards against channels whose room comes and goes while this runs.
                _ready.Return(entry);
                _readyBytes += entry.ReadySize;
                if (++refusals > _consumers.Count)
                {
                    return;
                }

                continue;
            }

            if (consumer.NoAck)
            {
                SettleLocked(entry);
            }
            else
            {
                _unacked++;
                DropDeliveredBodyLocked(entry);
            }
        }
    }

    /// <summary>
    /// A delivered message's body is needed again only if the message is requeued or dead-lettered,
    /// and both read a stored one back from the store. Held until the ack, a prefetch window of
    /// bodies outlives the young generation's collections and is promoted, so a consumer draining a
    /// deep queue paid in gen-1 and gen-2 collections for bodies it had already been sent. A body
    /// whose record is not written yet stays: nothing could read it back.
    /// </summary>
    private void DropDeliveredBodyLocked(QueuedMessage entry)
    {
        if (entry.IsStored && entry.StoreSeq < entry.Index!.WrittenNext)
        {
            DropBodyLocked(entry);
        }
    }

    private Consumer? NextConsumerWithRoomLocked()
    {
        if (Settings.SingleActiveConsumer)
        {
            // Only the longest-standing consumer receives; the next takes over when it goes.
            var active = _consumers[0];
            return active.Channel.HasRoomFor(active) ? active : null;
        }

        for (var i = 0; i < _consumers.Count; i++)
        {
            var index = (_nextConsumer + i) % _consumers.Count;
            var consumer = _consumers[index];
            if (consumer.Channel.HasRoomFor(consumer))
            {
                _nextConsumer = (index + 1) % _consumers.Count;
                return consumer;
            }
        }

        return null;
    }

    private bool TryTakeLocked(out QueuedMessage entry)
    {
        if (!_ready.TryTake(out entry))
        {
            return false;
        }

        _readyBytes -= entry.ReadySize;
        return true;
    }

    /// <summary>drop-head: the oldest ready messages go until the queue is within its limits (dead-lettered once that exists).</summary>
    private void DropHeadOverLimitLocked()
    {
        if (!Limits.IsBounded || Limits.RejectsNewest)
        {
            return;
        }

        List<QueuedMessage>? dropped = null;
        while (Limits.Exceeded(_ready.Count, _readyBytes) && TryTakeLocked(out var oldest))
        {
            (dropped ??= []).Add(oldest);
        }

        if (dropped is null)
        {
            return;
        }

        if (Settings.DeadLetters)
        {
            foreach (var entry in dropped)
            {
                DieLocked(entry, "maxlen");
            }

            return;
        }

        foreach (var entry in dropped)
        {
            Forget(entry);
        }

        StoreAck(dropped);
    }

    /// <summary>Messages whose bodies one read-ahead brings back at most (a message count, and bytes of records).</summary>
    private const int ReadAheadMessages = 256;

    private const long ReadAheadBytes = 1L << 20;

    /// <summary>
    /// <paramref name="first"/> is about to go out without its body (recovered, or released from a
    /// deep queue): bring back its body and those of the next ready messages like it in one pass over
    /// the store, so a consumer draining a deep queue costs a read per run of records, not per message.
    /// </summary>
    private void ReadAheadLocked(QueuedMessage first)
    {
        if (!first.IsStored)
        {
            return;
        }

        var upcoming = System.Buffers.ArrayPool<QueuedMessage?>.Shared.Rent(ReadAheadMessages);
        Dictionary<long, QueuedMessage> bySeq;
        try
        {
            var found = _ready.PeekArrivals(upcoming.AsSpan(1, ReadAheadMessages - 1));
            if (found == 0)
            {
                return; // LoadLocked reads the one message as it always has.
            }

            upcoming[0] = first;
            bySeq = new Dictionary<long, QueuedMessage>(found + 1);
            long bytes = 0;
            for (var i = 0; i <= found && bytes < ReadAheadBytes; i++)
            {
                var entry = upcoming[i]!;
                if (entry.Message is null && entry.Index == first.Index && entry.IsStored)
                {
                    bySeq[entry.StoreSeq] = entry;
                    bytes += entry.ReadySize;
                }
            }
        }
        finally
        {
            System.Buffers.ArrayPool<QueuedMessage?>.Shared.Return(upcoming, clearArray: true);
        }

        if (bySeq.Count < 2)
        {
            return;
        }

        _store.ReadMany(first.Index!, [.. bySeq.Keys], (Queue: this, BySeq: bySeq), static (state, seq, payload) =>
        {
            if (state.BySeq.TryGetValue(seq, out var entry) && entry.Message is null)
            {
                state.Queue.Restore(entry, payload);
            }
        });
    }

    /// <summary>Gives an entry back its body, read from the store. Caller holds the lock.</summary>
    private void Restore(QueuedMessage entry, ReadOnlySpan<byte> payload)
    {
        // The payload is the store's buffer, valid only now; the message keeps a copy of its own.
        entry.Message = StoredMessageFormat.Read(payload.ToArray(), out var arrivedAtMs);
        if (entry.ExpiresAtMs < 0)
        {
            // A record from before arrival times were kept starts its TTL now.
            entry.ArrivedAtMs = arrivedAtMs > 0 ? arrivedAtMs : _time.GetUtcNow().ToUnixTimeMilliseconds();
            SetExpiry(entry, entry.Message);
        }

        Hold(entry);
    }

    /// <summary>Reads a recovered message's body from the store. False when the store no longer has it (it failed its check and was written off).</summary>
    private bool LoadLocked(QueuedMessage entry)
    {
        if (entry.Message is not null)
        {
            return true;
        }

        if (!entry.IsStored || !_store.TryRead(entry.Index!, entry.StoreSeq, out var stored))
        {
            return false;
        }

        using (stored)
        {
            Restore(entry, stored!.Payload.Span);
        }

        return true;
    }

    /// <summary>A message delivered with no-ack is gone the moment it is sent.</summary>
    private void SettleLocked(QueuedMessage entry)
    {
        Forget(entry);
        if (entry.IsStored)
        {
            _store.AckUnobserved(entry.Index!, [entry.StoreSeq]);
        }
    }

    /// <summary>One ack record per index the entries live in (the durable one and the page one).</summary>
    private void StoreAck(List<QueuedMessage> entries)
    {
        // A consumer acking one message at a time comes here once per message: no list per call.
        var seqs = System.Buffers.ArrayPool<long>.Shared.Rent(entries.Count);
        try
        {
            var durable = CollectStored(entries, Stored, seqs);
            if (durable > 0)
            {
                _store.AckUnobserved(Stored!, seqs.AsSpan(0, durable));
            }

            var paged = CollectStored(entries, PageIndex, seqs);
            if (paged > 0)
            {
                _store.AckUnobserved(PageIndex!, seqs.AsSpan(0, paged));
            }
        }
        finally
        {
            System.Buffers.ArrayPool<long>.Shared.Return(seqs);
        }
    }

    /// <summary>Writes the store sequence numbers of the entries kept in <paramref name="index"/> to <paramref name="into"/>; returns how many.</summary>
    private static int CollectStored(List<QueuedMessage> entries, StoredQueue? index, long[] into)
    {
        var count = 0;
        if (index is null)
        {
            return 0;
        }

        foreach (var entry in entries)
        {
            if (entry.IsStored && entry.Index == index)
            {
                into[count++] = entry.StoreSeq;
            }
        }

        return count;
    }

    /// <summary>Takes the next ready message that has not expired, loading its body; expired ones on the way are dead-lettered or dropped.</summary>
    private bool TryTakeLiveLocked(out QueuedMessage entry)
    {
        var now = _time.GetUtcNow().ToUnixTimeMilliseconds();
        while (TryTakeLocked(out entry))
        {
            if (entry.Message is null)
            {
                ReadAheadLocked(entry);
            }

            if (!LoadLocked(entry))
            {
                continue;
            }

            if (entry != _arriving && IsExpired(entry, now, zeroTtlToo: false))
            {
                ExpireLocked(entry);
                continue;
            }

            return true;
        }

        return false;
    }

    private void SetExpiry(QueuedMessage entry, BrokerMessage message)
    {
        var ttl = Settings.MessageTtlMs;
        if (MessageExpiration.TryParse(message.Properties.Expiration, out var perMessage) && perMessage is { } own)
        {
            ttl = ttl is { } queueTtl ? Math.Min(queueTtl, own) : own;
            _perMessageTtlSeen = true;
        }

        entry.ExpiresAtMs = ttl is { } t ? DueTime.After(entry.ArrivedAtMs, t) : long.MaxValue;
        if (ttl is not null)
        {
            ScheduleExpiryLocked();
        }
    }

    /// <summary>Expired: past its time, or (for the "deliver now or never" TTL of 0) not taken at once.</summary>
    private static bool IsExpired(QueuedMessage entry, long nowMs, bool zeroTtlToo) =>
        entry.ExpiresAtMs >= 0 && entry.ExpiresAtMs != long.MaxValue
        && (entry.ExpiresAtMs < nowMs || (entry.ExpiresAtMs <= nowMs && (zeroTtlToo || entry.ExpiresAtMs > entry.ArrivedAtMs)));

    private void ExpireLocked(QueuedMessage entry)
    {
        if (Settings.DeadLetters)
        {
            DieLocked(entry, "expired");
            return;
        }

        Forget(entry);
        StoreAck([entry]);
    }

    /// <summary>Removes expired messages from the head of the queue (RabbitMQ expires at the head only), then sets the timer for the next.</summary>
    private void ExpireHeadsLocked(long nowMs, bool zeroTtlToo)
    {
        if (Settings.MessageTtlMs is null && !_perMessageTtlSeen)
        {
            return;
        }

        while (PeekLocked() is { } head)
        {
            if (head.ExpiresAtMs < 0 && !LoadLocked(head))
            {
                TryTakeLocked(out _); // Gone from the store (written off as corrupt): nothing to expire.
                continue;
            }

            if (!IsExpired(head, nowMs, zeroTtlToo))
            {
                break;
            }

            TryTakeLocked(out _);
            ExpireLocked(head);
        }

        ScheduleExpiryLocked();
    }

    private QueuedMessage? PeekLocked() => _ready.Peek();

    /// <summary>Sets the timer for the head's expiry, so a queue with no consumer still expires (and dead-letters) on time.</summary>
    private void ScheduleExpiryLocked()
    {
        if (_deleted || (Settings.MessageTtlMs is null && !_perMessageTtlSeen))
        {
            return;
        }

        var head = PeekLocked();
        if (head is null || head.ExpiresAtMs == long.MaxValue)
        {
            return;
        }

        // A recovered head whose expiry is unknown is looked at straight away.
        var due = head.ExpiresAtMs < 0 ? _time.GetUtcNow().ToUnixTimeMilliseconds() : head.ExpiresAtMs + 1;
        if (due < _expiryDueMs)
        {
            _expiryDueMs = due;
            ArmTimerLocked();
        }
    }

    private void ArmTimerLocked()
    {
        ArmAt(_expiryTimer, _expiryDueMs);
    }

    private void OnTimer()
    {
        lock (_gate)
        {
            _expiryDueMs = long.MaxValue;
            if (_deleted)
            {
                return;
            }

            // Messages that found no dead-letter route get another try.
            _dying.AddRange(_undeliverable);
            _undeliverable.Clear();
            ExpireHeadsLocked(_time.GetUtcNow().ToUnixTimeMilliseconds(), zeroTtlToo: true);
        }

        RunDeadLetters();
    }

    /// <summary>Queues a message for dead-lettering, with its body in memory (it may have been paged out).</summary>
    private void DieLocked(QueuedMessage entry, string reason)
    {
        if (!LoadLocked(entry))
        {
            // The store wrote it off as corrupt: there is nothing left to move.
            Forget(entry);
            return;
        }

        entry.Leaving = true;
        _dying.Add(new DyingMessage(entry, reason));
    }

    /// <summary>Hands collected dead letters to the vhost, outside the queue's lock (routing takes other queues' locks).</summary>
    private void RunDeadLetters()
    {
        List<DyingMessage> batch;
        lock (_gate)
        {
            if (_dying.Count == 0)
            {
                return;
            }

            batch = [.. _dying];
            _dying.Clear();
        }

        if (_host is null)
        {
            foreach (var dying in batch)
            {
                CompleteDeadLetter(dying.Entry);
            }

            return;
        }

        _ = _host.DeadLetterAsync(this, batch);
    }

    /// <summary>Stops the queue's timers (the broker is closing; the queue's state stays in the store).</summary>
    internal void StopTimers()
    {
        lock (_gate)
        {
            _expiryTimer.Dispose();
            _leaseTimer?.Dispose();
            _retryTimer?.Dispose();
        }
    }

    /// <summary>After a restart: recovered messages that were waiting out a retry delay go back to waiting, until their recorded time.</summary>
    /// <returns>The sequence numbers it found; records for any others are stale.</returns>
    internal HashSet<long> RestoreRetries(IReadOnlyDictionary<long, long> dueByStoreSeq)
    {
        var found = new HashSet<long>();
        if (dueByStoreSeq.Count == 0)
        {
            return found;
        }

        lock (_gate)
        {
            foreach (var entry in _ready.Drain())
            {
                if (entry.IsStored && dueByStoreSeq.TryGetValue(entry.StoreSeq, out var due))
                {
                    _readyBytes -= entry.ReadySize;
                    _retrying.Enqueue(entry, due);
                    found.Add(entry.StoreSeq);
                }
                else
                {
                    _ready.Add(entry);
                }
            }

            ArmRetryTimerLocked();
        }

        return found;
    }

    /// <summary>Messages waiting out a retry delay before they are ready again.</summary>
    public int RetryingCount
    {
        get
        {
            lock (_gate)
            {
                return _retrying.Count;
            }
        }
    }

    private void ArmRetryTimerLocked()
    {
        if (!_retrying.TryPeek(out _, out var due) || _deleted)
        {
            return;
        }

        ArmAt(_retryTimer, due);
    }

    private void OnRetryTimer()
    {
        lock (_gate)
        {
            if (_deleted)
            {
                return;
            }

            var now = _time.GetUtcNow().ToUnixTimeMilliseconds();
            while (_retrying.TryPeek(out var entry, out var due) && due <= now)
            {
                _retrying.Dequeue();
                _ready.Return(entry);
                _readyBytes += entry.ReadySize;
                if (entry.IsStored && entry.Index == Stored)
                {
                    _host?.RecordRetry(this, entry.StoreSeq, null);
                }
            }

            ArmRetryTimerLocked();
            DispatchLocked();
            ScheduleExpiryLocked();
        }

        RunDeadLetters();
    }

    /// <summary>The queue was used (declared, redeclared, read with basic.get, or left by its last consumer): its x-expires lease starts again.</summary>
    internal void Touch()
    {
        lock (_gate)
        {
            TouchLocked();
        }
    }

    /// <summary>After a restart: the last use as recorded (the caller adds the recording interval, so the lease never ends early).</summary>
    internal void RestoreLastUse(long lastUsedMs)
    {
        lock (_gate)
        {
            _lastUsedMs = lastUsedMs;
            _lastRecordedMs = lastUsedMs;
            ArmLeaseLocked();
        }
    }

    /// <summary>How often at most the last use is written down; a restart adds it back, so the recorded time errs late, never early.</summary>
    internal long LastUseRecordingIntervalMs => Settings.ExpiresMs is { } expires ? Math.Clamp(expires / 10, 1, 1000) : 0;

    private void TouchLocked()
    {
        if (Settings.ExpiresMs is null || _deleted)
        {
            return;
        }

        var now = _time.GetUtcNow().ToUnixTimeMilliseconds();
        _lastUsedMs = now;
        if (now - _lastRecordedMs >= LastUseRecordingIntervalMs)
        {
            _lastRecordedMs = now;
            _host?.RecordLastUse(this, now);
        }

        ArmLeaseLocked();
    }

    private void ArmLeaseLocked()
    {
        if (Settings.ExpiresMs is not { } expires || _deleted || _consumers.Count > 0)
        {
            return;
        }

        ArmAt(_leaseTimer, DueTime.After(_lastUsedMs, expires));
    }

    private void OnLeaseTimer()
    {
        lock (_gate)
        {
            if (_deleted || _consumers.Count > 0 || Settings.ExpiresMs is not { } expires)
            {
                return;
            }

            if (_time.GetUtcNow().ToUnixTimeMilliseconds() < DueTime.After(_lastUsedMs, expires))
            {
                ArmLeaseLocked();
                return;
            }
        }

        if (_host is not null)
        {
            _ = _host.ExpireAsync(this);
        }
    }

    /// <summary>RabbitMQ's x-delivery-count header on a redelivered message: how many times it was returned before.</summary>
    private static BrokerMessage WithDeliveryCount(QueuedMessage entry, bool includeZero = false)
    {
        var message = entry.Message!;
        if (entry.DeliveryCount == 0 && !includeZero)
        {
            return message;
        }

        var headers = (message.Properties.Headers ?? MessageHeaders.Empty).With("x-delivery-count", (long)entry.DeliveryCount);
        return message with { Properties = message.Properties with { Headers = headers } };
    }

    /// <summary>
    /// Sets a one-shot timer for a Unix-ms moment (at once if it has passed). A timer reaches at most
    /// ~49 days ahead, and an x-expires or TTL may name centuries: a later moment arms the longest
    /// timer there is, whose handler finds nothing due yet and arms again.
    /// </summary>
    private void ArmAt(ITimer? timer, long dueMs)
    {
        if (timer is not null)
        {
            DueTime.Arm(timer, _time, dueMs);
        }
    }

    private void ForgetAll(List<QueuedMessage> entries)
    {
        foreach (var entry in entries)
        {
            Forget(entry);
        }
    }

    private void Hold(QueuedMessage entry)
    {
        if (entry.Message is not null && !entry.Held)
        {
            entry.Held = true;
            _memory.Add(entry.Message.Body.Length);
        }
    }

    /// <summary>The entry's body no longer counts against memory (it left the queue, or was paged out).</summary>
    private void Forget(QueuedMessage entry)
    {
        if (entry.Held)
        {
            entry.Held = false;
            _memory.Remove(entry.Message?.Body.Length ?? 0);
        }
    }

    private async Task AdoptPageIndexAsync(Task<StoredQueue> declare)
    {
        try
        {
#pragma warning disable VSTHRD003 // The store's own task, started just above.
            var index = await declare.ConfigureAwait(false);
#pragma warning restore VSTHRD003
            bool orphan;
            lock (_gate)
            {
                orphan = _deleted;
                PageIndex = orphan ? null : index;
            }

            if (orphan)
            {
                Observe(_store.DeleteQueueAsync(index, FlushPolicy.Async));
            }
        }
        catch (Exception ex) when (ex is StorageFailedException or DiskFullException or ObjectDisposedException)
        {
            lock (_gate)
            {
                _pageDeclare = null; // Messages stay in memory; the next publish under pressure tries again.
            }
        }
    }

    /// <summary>
    /// Acks and requeues are written without waiting: if one is lost to a crash the message is
    /// delivered again, which at-least-once allows; a failed store reports itself through its own failure.
    /// </summary>
    private static void Observe(ValueTask write)
    {
        if (write.IsCompletedSuccessfully)
        {
            write.GetAwaiter().GetResult();
            return;
        }

        _ = ObserveAsync(write);

        static async Task ObserveAsync(ValueTask write)
        {
            try
            {
                await write.ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is StorageFailedException or DiskFullException or ObjectDisposedException)
            {
                // See above: the message stays unacked in the store and comes back after a restart.
            }
        }
    }
}
