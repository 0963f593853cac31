using System.Security.Cryptography;
using Holdfast.Broker.Messages;
using Holdfast.Broker.Queues;
using Holdfast.Broker.Security;
using Holdfast.Broker.Topology;

namespace Holdfast.Broker.Sessions;

/// <summary>
/// A client's channel as the broker sees it, whatever the protocol: its consumers, the deliveries
/// it has not settled, its prefetch limits, publisher confirms and transactions.
/// </summary>
/// <remarks>
/// The door calls it from one thread at a time (the connection's read loop); queues call
/// <see cref="HasRoomFor"/> and <see cref="TryDeliver"/> from theirs, with their own lock held. The
/// channel's lock is taken inside a queue's, never around one: settling collects under the
/// channel's lock and then calls the queues with it released.
/// </remarks>
public sealed class BrokerChannel
{
    private readonly Lock _gate = new();
    private readonly VirtualHost _vhost;
    private readonly IChannelEvents _events;
    private readonly LinkedList<Unacked> _unacked = new();
    private readonly Dictionary<ulong, LinkedListNode<Unacked>> _unackedByTag = [];
    private readonly Dictionary<string, Consumer> _consumers = new(StringComparer.Ordinal);
    private readonly PublishScratch _scratch = new();
    private readonly UserDirectory? _users;
    private readonly Dictionary<string, bool> _writableExchanges = new(StringComparer.Ordinal);
    private ConfirmTracker? _confirms;
    private ReplyConsumer? _replyConsumer;
    private ChannelTransaction? _transaction;
    private ulong _publishSequence;
    private ulong _lastDeliveryTag;
    private int _consumerPrefetchCount;
    private long _consumerPrefetchBytes;
    private int _channelPrefetchCount;
    private long _channelPrefetchBytes;
    private int _channelUnacked;
    private long _channelUnackedBytes;
    private string? _lastDeclaredQueue;
    private bool _closed;
    private bool _failed;

    internal BrokerChannel(VirtualHost vhost, long connectionId, string user, IChannelEvents events, UserDirectory? users = null)
    {
        _vhost = vhost;
        _users = users;
        ConnectionId = connectionId;
        User = user;
        _events = events;
    }

    public long ConnectionId { get; }

    public string User { get; }

    public VirtualHost VirtualHost => _vhost;

    public bool ConfirmsEnabled => _confirms is not null;

    public bool IsTransactional => _transaction is not null;

    public int UnackedCount
    {
        get
        {
            lock (_gate)
            {
                return _unacked.Count;
            }
        }
    }

    // ---- topology, with the channel's "last declared queue" ----

    public Task DeclareExchangeAsync(ExchangeDefinition exchange, bool passive, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(exchange);
        if (!passive)
        {
            Authorize(Permission.Configure, "exchange", exchange.Name);
            if (exchange.AlternateExchange is { } alternate)
            {
                Authorize(Permission.Write, "exchange", alternate);
                Authorize(Permission.Read, "exchange", exchange.Name);
            }
        }

        return _vhost.DeclareExchangeAsync(exchange, passive, cancellationToken);
    }

    public Task DeleteExchangeAsync(string name, bool ifUnused, CancellationToken cancellationToken = default)
    {
        Authorize(Permission.Configure, "exchange", name);
        return _vhost.DeleteExchangeAsync(name, ifUnused, cancellationToken);
    }

    public async Task<QueueDeclareResult> DeclareQueueAsync(QueueDefinition queue, bool passive, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(queue);
        if (DirectReply.IsPseudoQueue(queue.Name) || DirectReply.IsReplyName(queue.Name))
        {
            // Passive or not, RabbitMQ answers from its reply consumers, before any permission check.
            return _vhost.Replies.Describe(queue.Name);
        }

        if (passive && queue.Name.Length == 0)
        {
            queue = queue with { Name = LastQueue() };
        }

        // A server-named queue is checked under the name it will get, which always starts amq.gen-.
        if (!passive)
        {
            Authorize(Permission.Configure, "queue", queue.Name.Length == 0 ? "amq.gen-" : queue.Name);
        }

        var result = await _vhost.DeclareQueueAsync(queue, ConnectionId, passive, cancellationToken).ConfigureAwait(false);
        _lastDeclaredQueue = result.Name;
        return result;
    }

    public Task<long> DeleteQueueAsync(string name, bool ifUnused, bool ifEmpty, CancellationToken cancellationToken = default)
    {
        name = QueueName(name);
        Authorize(Permission.Configure, "queue", name);
        return _vhost.DeleteQueueAsync(name, ConnectionId, ifUnused, ifEmpty, cancellationToken);
    }

    public long PurgeQueue(string name)
    {
        name = QueueName(name);
        Authorize(Permission.Read, "queue", name);
        return _vhost.PurgeQueue(name, ConnectionId);
    }

    public Task BindQueueAsync(string queue, string exchange, string routingKey, IReadOnlyDictionary<string, object?> arguments, CancellationToken cancellationToken = default)
    {
        queue = QueueName(queue);
        Authorize(Permission.Write, "queue", queue);
        Authorize(Permission.Read, "exchange", exchange);
        return _vhost.BindQueueAsync(queue, exchange, routingKey, arguments, ConnectionId, cancellationToken);
    }

    public Task UnbindQueueAsync(string queue, string exchange, string routingKey, IReadOnlyDictionary<string, object?> arguments, CancellationToken cancellationToken = default)
    {
        queue = QueueName(queue);
        Authorize(Permission.Write, "queue", queue);
        Authorize(Permission.Read, "exchange", exchange);
        return _vhost.UnbindQueueAsync(queue, exchange, routingKey, arguments, ConnectionId, cancellationToken);
    }

    public Task BindExchangeAsync(string destination, string source, string routingKey, IReadOnlyDictionary<string, object?> arguments, CancellationToken cancellationToken = default)
    {
        Authorize(Permission.Write, "exchange", destination);
        Authorize(Permission.Read, "exchange", source);
        return _vhost.BindExchangeAsync(destination, source, routingKey, arguments, cancellationToken);
    }

    public Task UnbindExchangeAsync(string destination, string source, string routingKey, IReadOnlyDictionary<string, object?> arguments, CancellationToken cancellationToken = default)
    {
        Authorize(Permission.Write, "exchange", destination);
        Authorize(Permission.Read, "exchange", source);
        return _vhost.UnbindExchangeAsync(destination, source, routingKey, arguments, cancellationToken);
    }

    /// <summary>An empty queue name means the queue this channel declared last, as AMQP 0-9-1 allows.</summary>
    public string QueueName(string name) => name.Length > 0 ? name : LastQueue();

    private string LastQueue() =>
        _lastDeclaredQueue ?? throw new BrokerException(BrokerErrorKind.NotFound, "no previously declared queue");

    // ---- publishing ----

    public void SelectConfirms()
    {
        if (_transaction is not null)
        {
            throw new BrokerException(BrokerErrorKind.PreconditionFailed, "cannot switch from tx to confirm mode");
        }

        _confirms ??= new ConfirmTracker(_events);
    }

    /// <summary>
    /// Publishes a message. With confirms on, its confirm goes out when every queue has it and the
    /// stored copy (if any) has reached the flush policy's point; an unroutable message is returned
    /// first when mandatory, then confirmed; a message the store refuses is nacked.
    /// </summary>
    public void Publish(BrokerMessage message, bool mandatory)
    {
        ArgumentNullException.ThrowIfNull(message);
        AuthorizePublish(message.Exchange);
        if (!MessageExpiration.TryParse(message.Properties.Expiration, out _))
        {
            throw new BrokerException(BrokerErrorKind.PreconditionFailed, $"invalid expiration '{message.Properties.Expiration}': {MessageExpiration.RefusalReason(message.Properties.Expiration!)}");
        }

        if (message.Properties.UserId is { } userId && !string.Equals(userId, User, StringComparison.Ordinal))
        {
            // RabbitMQ's validated user-id: a consumer may trust it names the publisher.
            throw new BrokerException(BrokerErrorKind.PreconditionFailed, $"user_id property set to '{userId}' but authenticated user was '{User}'");
        }

        message = WithReplyName(message);
        if (_transaction is not null)
        {
            // Routed now, as RabbitMQ routes at basic.publish (so refusals, such as a missing or internal exchange,
            // surface now), and delivered at commit to the queues it reached then that still exist.
            var (routedMessage, queues) = _vhost.RouteForCommit(message, _scratch);
            _transaction.Publishes.Add((routedMessage, mandatory, queues));
            return;
        }

        var sequence = _confirms is null ? 0 : ++_publishSequence;
        if (TryPublishReply(message, out var unrouted))
        {
            if (unrouted && mandatory)
            {
                // When the door cannot send the return it throws, and this message is never confirmed either.
                ReturnUnroutable(message);
            }

            if (sequence != 0)
            {
                _confirms!.Complete(sequence, ack: true);
            }

            return;
        }

        // The continuation below only completes a confirm (its frame goes out after the group commit's others): it may
        // run on the store's log thread, which saves waking a pool thread for every group commit.
        var write = _vhost.Publish(message, _scratch, out var routed, out var rejected, confirmOnLogThread: true);
        if (!routed && mandatory)
        {
            ReturnUnroutable(message);
        }

        if (write.IsCompletedSuccessfully)
        {
            write.GetAwaiter().GetResult();
            if (sequence != 0)
            {
                _confirms!.Complete(sequence, ack: !rejected);
            }

            return;
        }

        _ = ConfirmWhenStoredAsync(write, sequence, rejected);
    }

    /// <summary>
    /// basic.return of an unroutable mandatory message. When the door cannot send it, the host hears of it and the
    /// door's refusal goes on; anything else it threw (a bug) goes on as an internal error, so the caller can end just
    /// this channel with it.
    /// </summary>
    private void ReturnUnroutable(BrokerMessage message)
    {
        try
        {
            _events.ReturnMessage(message, ReturnReason.NoRoute);
        }
        catch (BrokerException ex)
        {
            _vhost.Events.ReturnFailed(_vhost.Name, message.Exchange, message.RoutingKey, ex);
            throw;
        }
        catch (Exception ex)
        {
            _vhost.Events.ReturnFailed(_vhost.Name, message.Exchange, message.RoutingKey, ex);
            throw UnreturnedInternally(ex);
        }
    }

    private static BrokerException UnreturnedInternally(Exception exception) => new(
        BrokerErrorKind.InternalError,
        $"an unroutable mandatory message could not be returned ({exception.GetType().Name}: {exception.Message})",
        exception);

    /// <summary>A request that asks for direct replies carries this channel's reply name instead, so the replier can address it.</summary>
    private BrokerMessage WithReplyName(BrokerMessage message)
    {
        if (message.Properties.ReplyTo is not { } replyTo || !DirectReply.IsPseudoQueue(replyTo))
        {
            return message;
        }

        var consumer = Volatile.Read(ref _replyConsumer) ?? throw new BrokerException(BrokerErrorKind.PreconditionFailed, "fast reply consumer does not exist");
        return message with { Properties = message.Properties with { ReplyTo = consumer.Name } };
    }

    /// <summary>
    /// A message for a reply name goes to the consumer that name stands for, if it is still there: no
    /// queue, nothing stored, at most once. A mandatory reply comes back only when nobody got it
    /// (RabbitMQ returns it even when it was delivered, which tells the replier nothing).
    /// </summary>
    private bool TryPublishReply(BrokerMessage message, out bool unrouted)
    {
        if (message.Exchange.Length != 0 || !DirectReply.IsReplyName(message.RoutingKey))
        {
            unrouted = false;
            return false;
        }

        unrouted = !_vhost.Replies.TryDeliver(message);
        return true;
    }

    /// <summary>Its continuation may run on the store's log thread (see <see cref="Publish(BrokerMessage, bool)"/>): it must stay this small.</summary>
    private async Task ConfirmWhenStoredAsync(ValueTask write, ulong sequence, bool rejected)
    {
        bool stored;
        try
        {
            await write.ConfigureAwait(false);
            stored = true;
        }
#pragma warning disable CA1031 // Whatever stopped the store, the publisher hears "nack", never "ack".
        catch (Exception)
#pragma warning restore CA1031
        {
            stored = false;
        }

        if (sequence != 0)
        {
            _confirms!.Complete(sequence, stored && !rejected);
        }
    }

    // ---- transactions ----

    public void SelectTransactions()
    {
        if (_confirms is not null)
        {
            throw new BrokerException(BrokerErrorKind.PreconditionFailed, "cannot switch from confirm to tx mode");
        }

        _transaction ??= new ChannelTransaction();
    }

    /// <summary>Publishes what the transaction holds, waits until the stored copies reach the flush point, then settles its acks.</summary>
    public async Task CommitAsync()
    {
        var transaction = _transaction ?? throw new BrokerException(BrokerErrorKind.PreconditionFailed, "channel is not transactional");
        var writes = new List<Task>();
        BrokerException? unreturned = null;
        foreach (var (message, mandatory, queues) in transaction.Publishes)
        {
            if (TryPublishReply(message, out var unrouted))
            {
                if (unrouted && mandatory)
                {
                    ReturnInCommit(message, ref unreturned);
                }

                continue;
            }

            ValueTask write;
            bool routed;
            try
            {
                write = _vhost.Publish(message, _scratch, out routed, out _, routedTo: queues);
            }
            catch (BrokerException ex) when (ex.Kind is BrokerErrorKind.NotFound or BrokerErrorKind.AccessRefused)
            {
                // Only a delayed message is routed here, at commit (into the delayed store; its queues are found at its
                // release). Its exchange was there at basic.publish and has been deleted (or declared again as internal)
                // since: it has no route, returned when mandatory, else dropped. Failing here would leave the commit half
                // done, and the client would publish it all again.
                write = ValueTask.CompletedTask;
                routed = false;
            }

            if (!routed && mandatory)
            {
                ReturnInCommit(message, ref unreturned);
            }

            if (!write.IsCompletedSuccessfully)
            {
                writes.Add(write.AsTask());
            }
        }

        transaction.Publishes.Clear();
        List<(List<Unacked> Deliveries, Settlement Settlement)> settlements;
        lock (_gate)
        {
            settlements = [.. transaction.Settlements];
            transaction.Settlements.Clear();
            foreach (var (deliveries, _) in settlements)
            {
                foreach (var delivery in deliveries)
                {
                    Count(delivery, -1);
                }
            }
        }

        foreach (var (deliveries, settlement) in settlements)
        {
            Settle(deliveries, settlement);
        }

        if (settlements.Count > 0)
        {
            // The settled deliveries made room in the prefetch windows only now, as RabbitMQ frees it at commit.
            DispatchConsumedQueues();
        }

        try
        {
            await Task.WhenAll(writes).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not BrokerException)
        {
            throw new BrokerException(BrokerErrorKind.ResourceError, "the transaction's messages could not be stored: " + ex.Message, ex);
        }

        if (unreturned is not null)
        {
            // The commit stands, so the client must hear commit-ok: a commit that looked failed would be
            // published again, every message twice. The channel is closed after it, with the reason.
            _events.Fail(unreturned);
        }
    }

    /// <summary>
    /// A return that cannot be sent must not leave a commit half done, whatever was thrown (a refusal, or a fault nobody
    /// foresaw): the first failure is kept, and closes the channel once the commit has published and settled everything.
    /// </summary>
    private void ReturnInCommit(BrokerMessage message, ref BrokerException? unreturned)
    {
        try
        {
            ReturnUnroutable(message);
        }
#pragma warning disable CA1031 // Kept, not swallowed: it fails the channel after the commit.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            unreturned ??= ex as BrokerException ?? UnreturnedInternally(ex);
        }
    }

    /// <summary>Forgets the transaction's publishes; its acks are undone, so those messages are unacked again.</summary>
    public void Rollback()
    {
        var transaction = _transaction ?? throw new BrokerException(BrokerErrorKind.PreconditionFailed, "channel is not transactional");
        transaction.Publishes.Clear();
        lock (_gate)
        {
            foreach (var (deliveries, _) in transaction.Settlements)
            {
                foreach (var delivery in deliveries)
                {
                    // Still counted against prefetch (see Settle): back in the list only.
                    InsertLocked(delivery);
                }
            }
        }

        transaction.Settlements.Clear();
    }

    // ---- consuming ----

    /// <summary>basic.qos: <paramref name="global"/> limits the whole channel; otherwise the limit applies to each consumer started afterwards (RabbitMQ's reading).</summary>
    public void SetPrefetch(long prefetchBytes, int prefetchCount, bool global)
    {
        lock (_gate)
        {
            if (global)
            {
                _channelPrefetchCount = prefetchCount;
                _channelPrefetchBytes = prefetchBytes;
            }
            else
            {
                _consumerPrefetchCount = prefetchCount;
                _consumerPrefetchBytes = prefetchBytes;
            }
        }

        DispatchConsumedQueues();
    }

    /// <summary>
    /// Starts a consumer. <paramref name="registered"/> runs once the consumer exists and before it
    /// receives anything, so the door can send consume-ok ahead of the first delivery.
    /// </summary>
    public string Consume(string queueName, string consumerTag, bool noAck, bool exclusive, Action<string> registered)
    {
        ArgumentNullException.ThrowIfNull(registered);
        if (DirectReply.IsPseudoQueue(queueName))
        {
            return ConsumeReplies(consumerTag, noAck, registered);
        }

        Authorize(Permission.Read, "queue", QueueName(queueName));
        var queue = _vhost.FindQueue(QueueName(queueName)) ?? throw BrokerException.NoQueue(_vhost.Name, QueueName(queueName));
        _vhost.CheckExclusiveAccess(queue, ConnectionId);
        var tag = consumerTag.Length > 0 ? consumerTag : "amq.ctag-" + RandomTag();
        int prefetchCount;
        long prefetchBytes;
        lock (_gate)
        {
            if (_consumers.ContainsKey(tag) || _replyConsumer?.Tag == tag)
            {
                throw ReusedTag(tag);
            }

            prefetchCount = _consumerPrefetchCount;
            prefetchBytes = _consumerPrefetchBytes;
        }

        var consumer = queue.AddConsumer(this, tag, noAck, exclusive, prefetchCount, prefetchBytes);
        lock (_gate)
        {
            _consumers[tag] = consumer;
        }

        registered(tag);
        lock (_gate)
        {
            consumer.Active = true;
        }

        queue.Dispatch();
        return tag;
    }

    /// <summary>
    /// Starts this channel's consumer of direct replies. Its deliveries need no ack, and it has a reply
    /// name once it exists, so RabbitMQ's refusals come first and in its order: a tag in use, manual
    /// ack, a second reply consumer.
    /// </summary>
    private string ConsumeReplies(string consumerTag, bool noAck, Action<string> registered)
    {
        var tag = consumerTag.Length > 0 ? consumerTag : "amq.ctag-" + RandomTag();
        lock (_gate)
        {
            if (_consumers.ContainsKey(tag))
            {
                throw ReusedTag(tag);
            }

            if (!noAck)
            {
                throw new BrokerException(BrokerErrorKind.PreconditionFailed, "reply consumer cannot acknowledge");
            }

            if (_replyConsumer is not null)
            {
                throw new BrokerException(BrokerErrorKind.PreconditionFailed, "reply consumer already set");
            }

            // Nothing can be delivered before consume-ok: nobody knows the name until a request carries it.
            _replyConsumer = _vhost.Replies.Register(tag, this);
        }

        registered(tag);
        return tag;
    }

    /// <summary>Stops a consumer; what it was delivered stays unacked on the channel. False when no consumer has that tag.</summary>
    public bool Cancel(string consumerTag)
    {
        Consumer? consumer;
        lock (_gate)
        {
            if (_replyConsumer?.Tag == consumerTag)
            {
                StopRepliesLocked();
                return true;
            }

            if (!_consumers.Remove(consumerTag, out consumer))
            {
                return false;
            }
        }

        Stop(consumer);
        return true;
    }

    /// <summary>
    /// basic.get. <paramref name="send"/>, when given, sends the answer while the message is still in its queue (with
    /// the queue's and this channel's locks held; it must not block). When the door cannot send it to this client,
    /// <paramref name="send"/> throws (a <see cref="BrokerException"/> in the client's terms): the message stays in its
    /// place, even for a no-ack get, and Get throws that exception (anything else wrapped as an internal error).
    /// </summary>
    public GetResult? Get(string queueName, bool noAck, Action<GetResult>? send = null)
    {
        Authorize(Permission.Read, "queue", QueueName(queueName));
        var queue = _vhost.FindQueue(QueueName(queueName)) ?? throw BrokerException.NoQueue(_vhost.Name, QueueName(queueName));
        _vhost.CheckExclusiveAccess(queue, ConnectionId);
        return queue.Get(this, noAck, send);
    }

    /// <param name="dispatch">
    /// False leaves offering the queues' messages to the room the ack made to a later <see cref="ResumeDeliveries"/>,
    /// which the caller owes: a door that reads several acks at once dispatches once for all of them.
    /// </param>
    /// <returns>True when the ack took effect now; false when a transaction holds it until commit, which dispatches then.</returns>
    public bool Ack(ulong deliveryTag, bool multiple, bool dispatch = true) => Settle(deliveryTag, multiple, Settlement.Ack, dispatch);

    public void Reject(ulong deliveryTag, bool multiple, bool requeue) => _ = Settle(deliveryTag, multiple, requeue ? Settlement.Retry : Settlement.Discard);

    /// <summary>basic.recover: every unacked delivery goes back to its queue, to be delivered again flagged redelivered.</summary>
    public void Recover()
    {
        List<Unacked> all;
        lock (_gate)
        {
            all = TakeAllLocked();
        }

        Settle(all, Settlement.Requeue);
    }

    /// <summary>The channel closed: its consumers stop and everything it had not settled goes back to its queues in order.</summary>
    public void Close()
    {
        List<Consumer> consumers;
        List<Unacked> unsettled;
        lock (_gate)
        {
            if (_closed)
            {
                return;
            }

            _closed = true;
            consumers = [.. _consumers.Values];
            _consumers.Clear();
            StopRepliesLocked();
            unsettled = TakeAllLocked();
            if (_transaction is not null)
            {
                foreach (var (deliveries, _) in _transaction.Settlements)
                {
                    foreach (var delivery in deliveries)
                    {
                        Count(delivery, -1);
                    }

                    unsettled.AddRange(deliveries);
                }

                _transaction.Settlements.Clear();
                _transaction.Publishes.Clear();
            }
        }

        // The deliveries go back first: nothing a consumer's stop may throw can strand them on a
        // channel that no longer exists (they would never be redelivered).
        try
        {
            Settle(unsettled, Settlement.Requeue);
        }
        finally
        {
            foreach (var consumer in consumers)
            {
                Stop(consumer);
            }
        }
    }

    /// <summary>The door's output has room again: offer the queues' ready messages to this channel's consumers.</summary>
    public void ResumeDeliveries() => DispatchConsumedQueues();

    // ---- called by queues, with the queue's lock held ----

    internal bool HasRoomFor(Consumer consumer)
    {
        lock (_gate)
        {
            return HasRoomLocked(consumer);
        }
    }

    /// <summary>
    /// Sends <paramref name="entry"/> to <paramref name="consumer"/> and tracks it as unacked. False when the channel
    /// has no room, or when the door could not send it: then it is not tracked, the queue keeps it, and the channel
    /// takes no more deliveries (see <see cref="FailLocked"/>).
    /// </summary>
    internal bool TryDeliver(Consumer consumer, QueuedMessage entry, BrokerMessage message)
    {
        lock (_gate)
        {
            if (!HasRoomLocked(consumer))
            {
                return false;
            }

            // Tracked only once sent: a delivery the door refused must not wait for an ack that can never come.
            var tag = _lastDeliveryTag + 1;
            if (!TrySendLocked(new Delivery(consumer.Tag, tag, entry.Redelivered, message), consumer.Queue.Name))
            {
                return false;
            }

            _lastDeliveryTag = tag;
            if (!consumer.NoAck)
            {
                TrackLocked(new Unacked(tag, consumer.Queue, entry, consumer, entry.BodySize));
            }

            return true;
        }
    }

    /// <summary>
    /// A direct reply for <paramref name="consumer"/>, from the replier's thread. Sent even while the
    /// client's socket lags: a reply has nowhere to wait, and the output's own bound still stops a
    /// requester that never reads. False once that consumer is gone.
    /// </summary>
    internal bool DeliverReply(ReplyConsumer consumer, BrokerMessage message)
    {
        lock (_gate)
        {
            if (_closed || _failed || _replyConsumer != consumer)
            {
                return false;
            }

            // A reply that cannot be sent is lost like any reply to a requester that went away (at most once).
            var tag = _lastDeliveryTag + 1;
            if (!TrySendLocked(new Delivery(consumer.Tag, tag, Redelivered: false, message), DirectReply.PseudoQueue))
            {
                return false;
            }

            _lastDeliveryTag = tag;
            return true;
        }
    }

    /// <summary>
    /// A basic.get answer: sent through <paramref name="send"/> under this channel's lock (so its tag goes out in order
    /// with deliveries), then tracked unless <paramref name="noAck"/>. When <paramref name="send"/> throws, nothing is
    /// tracked and no tag is used; the host hears of it, and the exception goes on to the queue, which keeps the message.
    /// </summary>
    internal GetResult SendGot(MessageQueue queue, QueuedMessage entry, BrokerMessage message, long messageCount, bool noAck, Action<GetResult>? send)
    {
        lock (_gate)
        {
            var got = new GetResult(_lastDeliveryTag + 1, entry.Redelivered, message, messageCount);
            try
            {
                send?.Invoke(got);
            }
            catch (BrokerException ex)
            {
                _vhost.Events.GetFailed(_vhost.Name, queue.Name, ex);
                throw;
            }
            catch (Exception ex)
            {
                _vhost.Events.GetFailed(_vhost.Name, queue.Name, ex);
                throw new BrokerException(
                    BrokerErrorKind.InternalError,
                    $"a message from queue '{queue.Name}' could not be sent for basic.get ({ex.GetType().Name}: {ex.Message}); it stays in the queue",
                    ex);
            }

            _lastDeliveryTag = got.DeliveryTag;
            if (!noAck)
            {
                TrackLocked(new Unacked(got.DeliveryTag, queue, entry, null, entry.BodySize));
            }

            return got;
        }
    }

    /// <summary>The queue was deleted under the consumer: forget it and tell the client (consumer_cancel_notify).</summary>
    internal void CancelledByBroker(Consumer consumer)
    {
        lock (_gate)
        {
            if (!_consumers.TryGetValue(consumer.Tag, out var current) || current != consumer)
            {
                return;
            }

            _consumers.Remove(consumer.Tag);
        }

        _events.ConsumerCancelled(consumer.Tag);
    }

    // ---- internals ----

    /// <summary>RabbitMQ's permission model: configure, write or read on the resource's name; the default exchange is checked as amq.default.</summary>
    private void Authorize(Permission permission, string kind, string name)
    {
        if (_users is null)
        {
            return;
        }

        var resource = kind == "exchange" && name.Length == 0 ? "amq.default" : name;
        if (!_users.IsAllowed(User, _vhost.Name, permission, resource))
        {
            throw Refused(kind, resource);
        }
    }

    /// <summary>Publishes are checked once per exchange per channel, as RabbitMQ caches them, so a warm publish runs no regex.</summary>
    private void AuthorizePublish(string exchange)
    {
        if (_users is null)
        {
            return;
        }

        if (!_writableExchanges.TryGetValue(exchange, out var allowed))
        {
            allowed = _users.IsAllowed(User, _vhost.Name, Permission.Write, exchange.Length == 0 ? "amq.default" : exchange);
            if (_writableExchanges.Count >= 256)
            {
                _writableExchanges.Clear();
            }

            _writableExchanges[exchange] = allowed;
        }

        if (!allowed)
        {
            throw Refused("exchange", exchange.Length == 0 ? "amq.default" : exchange);
        }
    }

    private static BrokerException ReusedTag(string tag) => new(BrokerErrorKind.NotAllowed, $"attempt to reuse consumer tag '{tag}'");

    private BrokerException Refused(string kind, string resource) =>
        new(BrokerErrorKind.AccessRefused, $"access to {kind} '{resource}' in vhost '{_vhost.Name}' refused for user '{User}'");

    private bool HasRoomLocked(Consumer consumer)
    {
        if (_closed || _failed || consumer.Cancelled || !consumer.Active || _events.IsCongested)
        {
            return false;
        }

        if (consumer.NoAck)
        {
            return true;
        }

        return (consumer.PrefetchCount == 0 || consumer.Unacked < consumer.PrefetchCount)
            && (consumer.PrefetchBytes == 0 || consumer.UnackedBytes < consumer.PrefetchBytes)
            && (_channelPrefetchCount == 0 || _channelUnacked < _channelPrefetchCount)
            && (_channelPrefetchBytes == 0 || _channelUnackedBytes < _channelPrefetchBytes);
    }

    private bool TrySendLocked(in Delivery delivery, string queue)
    {
        try
        {
            _events.Deliver(delivery);
            return true;
        }
#pragma warning disable CA1031 // Whatever the door threw, one unsendable delivery must not stop the queue that offered it.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            FailLocked(delivery.ConsumerTag, queue, ex);
            return false;
        }
    }

    /// <summary>
    /// The door could not send a delivery: this channel takes no more (another consumer, or this one after it
    /// reconnects, may get the message), the host hears of it, and the door closes the channel, which puts
    /// back what it had been sent and not settled.
    /// </summary>
    private void FailLocked(string consumerTag, string queue, Exception exception)
    {
        _failed = true;
        _vhost.Events.DeliveryFailed(_vhost.Name, queue, consumerTag, exception);
        var error = exception as BrokerException ?? new BrokerException(
            BrokerErrorKind.InternalError,
            $"a delivery from queue '{queue}' to consumer '{consumerTag}' could not be sent ({exception.GetType().Name}: {exception.Message}); it went back to the queue",
            exception);
        _events.Fail(error);
    }

    private void TrackLocked(Unacked delivery)
    {
        InsertLocked(delivery);
        Count(delivery, +1);
    }

    private void InsertLocked(Unacked delivery)
    {
        // Tags only grow, except when a rollback puts deliveries back: keep the list in tag order either way.
        var node = _unacked.Last;
        while (node is not null && node.Value.Tag > delivery.Tag)
        {
            node = node.Previous;
        }

        _unackedByTag[delivery.Tag] = node is null ? _unacked.AddFirst(delivery) : _unacked.AddAfter(node, delivery);
    }

    private void Count(Unacked delivery, int sign)
    {
        if (delivery.Consumer is { } consumer)
        {
            consumer.Unacked += sign;
            consumer.UnackedBytes += sign * delivery.Size;
            _channelUnacked += sign;
            _channelUnackedBytes += sign * delivery.Size;
        }
    }

    private List<Unacked> TakeAllLocked()
    {
        var all = new List<Unacked>(_unacked.Count);
        foreach (var delivery in _unacked)
        {
            Count(delivery, -1);
            all.Add(delivery);
        }

        _unacked.Clear();
        _unackedByTag.Clear();
        return all;
    }

    private bool Settle(ulong deliveryTag, bool multiple, Settlement settlement, bool dispatch = true)
    {
        var taken = new List<Unacked>();
        lock (_gate)
        {
            if (multiple && deliveryTag == 0)
            {
                taken = TakeAllLocked();
            }
            else
            {
                if (!_unackedByTag.ContainsKey(deliveryTag))
                {
                    throw new BrokerException(BrokerErrorKind.PreconditionFailed, $"unknown delivery tag {deliveryTag}");
                }

                while (_unacked.First is { } first && (multiple ? first.Value.Tag <= deliveryTag : first.Value.Tag == deliveryTag))
                {
                    Take(first, taken);
                }

                if (!multiple && _unackedByTag.TryGetValue(deliveryTag, out var single))
                {
                    Take(single, taken);
                }
            }

            if (_transaction is not null)
            {
                // Held until commit, and counted against the prefetch windows until then: RabbitMQ's limiter hears
                // of a transaction's acks at commit, and a rollback puts them back where they were.
                foreach (var delivery in taken)
                {
                    Count(delivery, +1);
                }

                _transaction.Settlements.Add((taken, settlement));
                return false;
            }
        }

        Settle(taken, settlement);
        if (dispatch)
        {
            DispatchConsumedQueues();
        }

        return true;
    }

    private void Take(LinkedListNode<Unacked> node, List<Unacked> into)
    {
        _unacked.Remove(node);
        _unackedByTag.Remove(node.Value.Tag);
        Count(node.Value, -1);
        into.Add(node.Value);
    }

    private static void Settle(List<Unacked> deliveries, Settlement settlement)
    {
        if (deliveries.Count == 0)
        {
            return;
        }

        // Deliveries from one queue in a row go to it in one call; usually that is all of them.
        var start = 0;
        while (start < deliveries.Count)
        {
            var queue = deliveries[start].Queue;
            var end = start + 1;
            while (end < deliveries.Count && deliveries[end].Queue == queue)
            {
                end++;
            }

            var entries = new List<QueuedMessage>(end - start);
            for (var i = start; i < end; i++)
            {
                entries.Add(deliveries[i].Entry);
            }

            SettleOne(queue, entries, settlement);
            start = end;
        }
    }

    private static void SettleOne(MessageQueue queue, List<QueuedMessage> entries, Settlement settlement)
    {
        switch (settlement)
        {
            case Settlement.Requeue:
                queue.Requeue(entries, afterFailure: false);
                break;
            case Settlement.Retry:
                queue.Requeue(entries, afterFailure: true);
                break;
            case Settlement.Discard:
                queue.Reject(entries);
                break;
            default:
                queue.Ack(entries);
                break;
        }
    }

    /// <summary>The reply name stops routing at once; a reply already looked up finds the consumer gone in <see cref="DeliverReply"/>.</summary>
    private void StopRepliesLocked()
    {
        if (_replyConsumer is { } replies)
        {
            _vhost.Replies.Remove(replies);
            _replyConsumer = null;
        }
    }

    private void Stop(Consumer consumer)
    {
        if (consumer.Queue.RemoveConsumer(consumer))
        {
            _ = _vhost.DeleteOwnedAsync(consumer.Queue);
        }
    }

    private void DispatchConsumedQueues()
    {
        // Called after every ack: the usual single queue costs no allocation.
        MessageQueue? first = null;
        List<MessageQueue>? more = null;
        lock (_gate)
        {
            foreach (var consumer in _consumers.Values)
            {
                var queue = consumer.Queue;
                if (first is null)
                {
                    first = queue;
                }
                else if (queue != first && (more is null || !more.Contains(queue)))
                {
                    (more ??= []).Add(queue);
                }
            }
        }

        first?.Dispatch();
        if (more is not null)
        {
            foreach (var queue in more)
            {
                queue.Dispatch();
            }
        }
    }

    private static string RandomTag()
    {
        Span<byte> bytes = stackalloc byte[16];
        RandomNumberGenerator.Fill(bytes);
        return Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
    }
}
