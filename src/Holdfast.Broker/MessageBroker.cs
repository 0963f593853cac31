using System.Collections.Concurrent;
using Holdfast.Broker.Queues;
using Holdfast.Broker.Security;
using Holdfast.Broker.Sessions;
using Holdfast.Broker.Topology;
using Holdfast.Storage;

namespace Holdfast.Broker;

/// <summary>
/// The broker core: virtual hosts with their exchanges, queues and bindings, on one store. Doors
/// open a <see cref="BrokerChannel"/> per client channel and tell the broker when a connection ends.
/// </summary>
public sealed class MessageBroker : IDisposable
{
    private readonly ConcurrentDictionary<string, VirtualHost> _vhosts = new(StringComparer.Ordinal);

    private MessageBroker(MessageStore store, UserDirectory? users, TimeProvider time)
    {
        Store = store;
        Users = users;
        Time = time;
    }

    /// <summary>The clock for TTLs, expiry and retries (tests pass a fake one).</summary>
    public TimeProvider Time { get; }

    public MessageStore Store { get; }

    /// <summary>Bodies held in memory by queues, against the budget above which queues page to the store.</summary>
    public MessageMemory Memory { get; } = new();

    /// <summary>Metrics and host notifications for messages the broker kept rather than lost.</summary>
    public Monitoring.BrokerEvents Events { get; } = new();

    /// <summary>Users and their permissions; null runs without permission checks (embedded use and some tests).</summary>
    public UserDirectory? Users { get; }

    /// <summary>
    /// Restores the durable topology from the store: exchanges, queues with their unacked messages,
    /// and bindings. Indexes that no queue record names (a crash between the two writes of a delete)
    /// are deleted, and so are binding records whose ends are gone.
    /// </summary>
    /// <param name="observer">Told from the start (restored queues may dead-letter at once) about messages kept rather than lost.</param>
    public static async Task<MessageBroker> OpenAsync(MessageStore store, UserDirectory? users = null, TimeProvider? time = null, Monitoring.IBrokerObserver? observer = null)
    {
        ArgumentNullException.ThrowIfNull(store);
        var broker = new MessageBroker(store, users, time ?? store.Options.TimeProvider);
        broker.Events.Observer = observer;
        var metadata = store.GetMetadata();
        var queues = new List<(string VHost, QueueDefinition Queue)>();
        var bindings = new List<(string Key, string VHost, byte[] Value)>();
        var retries = new Dictionary<(string VHost, string Queue), Dictionary<long, long>>();
        foreach (var (key, value) in metadata)
        {
            if (!TopologyFormat.TryParseKey(key, out var kind, out var vhost, out var name))
            {
                continue;
            }

            switch (kind)
            {
                case "exchange":
                    broker.GetVirtualHost(vhost).RestoreExchange(TopologyFormat.DecodeExchange(name, value));
                    break;
                case "queue":
                    queues.Add((vhost, TopologyFormat.DecodeQueue(name, value)));
                    break;
                case "binding":
                    bindings.Add((key, vhost, value));
                    break;
                case "retry":
                    if (TopologyFormat.TryParseRetryName(name, out var retryQueue, out var retrySeq) && value.Length == 8)
                    {
                        var byQueue = retries.TryGetValue((vhost, retryQueue), out var existing) ? existing : retries[(vhost, retryQueue)] = [];
                        byQueue[retrySeq] = System.Buffers.Binary.BinaryPrimitives.ReadInt64LittleEndian(value);
                    }

                    break;
                case "policy":
                    // Before queues and exchanges are restored, so they come back under their policies.
                    broker.GetVirtualHost(vhost).RestorePolicy(TopologyFormat.DecodePolicy(name, value));
                    break;
            }
        }

        var named = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (vhost, queue) in queues)
        {
            var storedName = TopologyFormat.StoredQueueName(vhost, queue.Name);
            named.Add(storedName);
            var stored = store.FindQueue(storedName) ?? await store.DeclareQueueAsync(storedName, FlushPolicy.Sync).ConfigureAwait(false);
            broker.GetVirtualHost(vhost).RestoreQueue(queue, stored);
        }

        foreach (var stored in store.Queues)
        {
            // Page indexes held transient messages of the previous run, which a restart does not keep.
            var paged = stored.Name.StartsWith(MessageQueue.PagePrefix, StringComparison.Ordinal);
            if (paged || (!named.Contains(stored.Name) && TopologyFormat.TryParseStoredQueueName(stored.Name, out _, out _)))
            {
                await store.DeleteQueueAsync(stored, FlushPolicy.Sync).ConfigureAwait(false);
            }
        }

        foreach (var (key, vhost, value) in bindings)
        {
            var (source, binding) = TopologyFormat.DecodeBinding(value);
            if (!broker.GetVirtualHost(vhost).RestoreBinding(source, binding))
            {
                await store.DeleteMetadataAsync(key, FlushPolicy.Sync).ConfigureAwait(false);
            }
        }

        foreach (var ((vhost, queue), dueBySeq) in retries)
        {
            broker.GetVirtualHost(vhost).RestoreRetries(queue, dueBySeq);
        }

        foreach (var vhost in broker._vhosts.Values)
        {
            vhost.ApplyRestoredPolicies();
        }

        // Last, once every route exists: an overdue delayed message is released at once.
        foreach (var stored in store.Queues)
        {
            if (stored.Name.StartsWith(VirtualHost.DelayedIndexPrefix, StringComparison.Ordinal)
                && TopologyFormat.TryParseStoredQueueName(stored.Name[VirtualHost.DelayedIndexPrefix.Length..] + "/", out var delayedVhost, out _))
            {
                await broker.GetVirtualHost(delayedVhost).RecoverDelayedAsync().ConfigureAwait(false);
            }
        }

        return broker;
    }

    /// <summary>The vhost's exchanges and queues, made (with the predeclared amq.* exchanges) on first use. Whether the vhost may be used is the user directory's call.</summary>
    public VirtualHost GetVirtualHost(string name) => _vhosts.GetOrAdd(name, static (n, broker) => new VirtualHost(n, broker.Store, broker.Memory, broker.Time, broker.Events), this);

    public BrokerChannel OpenChannel(string virtualHost, long connectionId, string user, IChannelEvents events) =>
        new(GetVirtualHost(virtualHost), connectionId, user, events, Users);

    /// <summary>A connection ended: its exclusive queues go.</summary>
    public async Task ConnectionClosedAsync(long connectionId)
    {
        foreach (var vhost in _vhosts.Values)
        {
            await vhost.ConnectionClosedAsync(connectionId).ConfigureAwait(false);
        }
    }

    public void Dispose()
    {
        foreach (var vhost in _vhosts.Values)
        {
            vhost.Dispose();
        }
    }
}
