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
    private readonly Queue<QueuedMessage> _ready = new();
    private readonly PriorityQueue<QueuedMessage, long> _returned = new();
    private readonly List<Consumer> _consumers = [];
    private readonly MessageStore _store;
    private readonly MessageMemory _memory;
    private Task<StoredQueue>? _pageDeclare;
    private int _nextConsumer;
    private long _nextSeq;
    private long _unacked;
    private long _readyBytes;
    private bool _hadConsumer;
    private bool _deleted;

    internal MessageQueue(string virtualHost, QueueDefinition definition, long? exclusiveOwner, StoredQueue? stored, MessageStore store, MessageMemory memory)
    {
        VirtualHost = virtualHost;
        Definition = definition;
        ExclusiveOwner = exclusiveOwner;
        Stored = stored;
        _store = store;
        _memory = memory;
        Limits = QueueLimits.From(definition.Arguments);
    }

    internal QueueLimits Limits { get; }

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
                return _ready.Count + _returned.Count;
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
                _ready.Enqueue(new QueuedMessage(_nextSeq++, Stored, entry.Seq, null, entry.DeliveryCount, redelivered: true) { RecoveredSize = entry.RecordLength });
                _readyBytes += entry.RecordLength;
            }
        }
    }

    /// <returns>The queue's entry for the message, or null when the queue is gone.</returns>
    internal QueuedMessage? Enqueue(BrokerMessage message, StoredQueue? index, long storeSeq)
    {
        lock (_gate)
        {
            if (_deleted)
            {
                return null;
            }

            var entry = new QueuedMessage(_nextSeq++, storeSeq >= 0 ? index : null, storeSeq, message, 0, redelivered: false);
            Hold(entry);
            _ready.Enqueue(entry);
            _readyBytes += message.Body.Length;
            DispatchLocked();
            DropHeadOverLimitLocked();
            return entry;
        }
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

    /// <summary>Once a paged message's record is written, its body leaves memory; it is read back when delivered.</summary>
    internal void ReleaseBody(QueuedMessage entry)
    {
        lock (_gate)
        {
            if (entry.IsStored && entry.Message is not null)
            {
                Forget(entry);
                entry.Message = null;
            }
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
            return Limits.Exceeded(_ready.Count + _returned.Count + 1, _readyBytes + bodySize);
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
            return !_deleted && _consumers.Count == 0 && _hadConsumer && Definition.AutoDelete;
        }
    }

    /// <summary>Takes the next ready message for basic.get; the channel registers it (or, with no-ack, it is settled at once).</summary>
    internal GetResult? Get(BrokerChannel channel, bool noAck)
    {
        lock (_gate)
        {
            while (TryTakeLocked(out var entry))
            {
                if (!LoadLocked(entry))
                {
                    continue;
                }

                var tag = channel.RegisterGet(this, entry, noAck);
                if (noAck)
                {
                    SettleLocked(entry);
                }
                else
                {
                    _unacked++;
                }

                return new GetResult(tag, entry.Redelivered, entry.Message!, _ready.Count + _returned.Count);
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

    /// <summary>Puts delivered messages back in their original places, flagged redelivered, and counts the delivery (durably for stored ones).</summary>
    internal void Requeue(List<QueuedMessage> entries)
    {
        lock (_gate)
        {
            _unacked -= entries.Count;
            if (_deleted)
            {
                return;
            }

            foreach (var entry in entries)
            {
                entry.Redelivered = true;
                entry.DeliveryCount++;
                _returned.Enqueue(entry, entry.Seq);
                _readyBytes += entry.ReadySize;
                if (entry.IsStored && entry.Index == Stored)
                {
                    Observe(_store.RequeueAsync(Stored!, entry.StoreSeq, FlushPolicy.Async));
                }
            }

            DispatchLocked();
        }
    }

    /// <summary>Offers ready messages to consumers with room for them.</summary>
    internal void Dispatch()
    {
        lock (_gate)
        {
            DispatchLocked();
        }
    }

    /// <summary>Removes every ready message; delivered ones stay until acked or requeued. Returns how many were removed.</summary>
    internal long Purge()
    {
        lock (_gate)
        {
            var removed = new List<QueuedMessage>(_ready.Count + _returned.Count);
            removed.AddRange(_ready);
            while (_returned.TryDequeue(out var entry, out _))
            {
                removed.Add(entry);
            }

            _ready.Clear();
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
            messageCount = _ready.Count + _returned.Count;
            foreach (var entry in _ready)
            {
                Forget(entry);
            }

            foreach (var (entry, _) in _returned.UnorderedItems)
            {
                Forget(entry);
            }

            _ready.Clear();
            _returned.Clear();
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
        while (_consumers.Count > 0 && (_ready.Count > 0 || _returned.Count > 0))
        {
            var consumer = NextConsumerWithRoomLocked();
            if (consumer is null || !TryTakeLocked(out var entry))
            {
                return;
            }

            if (!LoadLocked(entry))
            {
                continue;
            }

            if (!consumer.Channel.TryDeliver(consumer, entry))
            {
                // The channel closed between the look and the delivery: the message keeps its place.
                _returned.Enqueue(entry, entry.Seq);
                return;
            }

            if (consumer.NoAck)
            {
                SettleLocked(entry);
            }
            else
            {
                _unacked++;
            }
        }
    }

    private Consumer? NextConsumerWithRoomLocked()
    {
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
        var fromReturned = _returned.TryPeek(out var returned, out var returnedSeq)
            && (!_ready.TryPeek(out var next) || returnedSeq < next.Seq);
        if (fromReturned)
        {
            entry = _returned.Dequeue();
        }
        else if (!_ready.TryDequeue(out entry!))
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
        while (Limits.Exceeded(_ready.Count + _returned.Count, _readyBytes) && TryTakeLocked(out var oldest))
        {
            (dropped ??= []).Add(oldest);
        }

        if (dropped is not null)
        {
            foreach (var entry in dropped)
            {
                Forget(entry);
            }

            StoreAck(dropped);
        }
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
            // The pooled buffer goes back when disposed; the message keeps a copy of its own.
            entry.Message = StoredMessageFormat.Read(stored!.Payload.ToArray());
        }

        Hold(entry);
        return true;
    }

    /// <summary>A message delivered with no-ack is gone the moment it is sent.</summary>
    private void SettleLocked(QueuedMessage entry)
    {
        Forget(entry);
        if (entry.IsStored)
        {
            Observe(_store.AckAsync(entry.Index!, entry.StoreSeq, FlushPolicy.Async));
        }
    }

    /// <summary>One ack record per index the entries live in (the durable one and the page one).</summary>
    private void StoreAck(List<QueuedMessage> entries)
    {
        List<long>? durable = null;
        List<long>? paged = null;
        foreach (var entry in entries)
        {
            if (!entry.IsStored)
            {
                continue;
            }

            if (entry.Index == Stored)
            {
                (durable ??= []).Add(entry.StoreSeq);
            }
            else if (entry.Index == PageIndex)
            {
                (paged ??= []).Add(entry.StoreSeq);
            }
        }

        if (durable is not null)
        {
            Observe(_store.AckAsync(Stored!, System.Runtime.InteropServices.CollectionsMarshal.AsSpan(durable), FlushPolicy.Async));
        }

        if (paged is not null)
        {
            Observe(_store.AckAsync(PageIndex!, System.Runtime.InteropServices.CollectionsMarshal.AsSpan(paged), FlushPolicy.Async));
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
