using System.Collections.Concurrent;
using Holdfast.Broker.Messages;
using Holdfast.Broker.Topology;

namespace Holdfast.Broker.Sessions;

/// <summary>
/// A virtual host's live direct reply-to names. Replies look their consumer up without a lock, so RPC
/// servers on many connections do not queue behind one another; a name leaves when its consumer is
/// cancelled or its channel closes, and from then on routes nowhere.
/// </summary>
internal sealed class ReplyDirectory(string vhost)
{
    private const int MaxNameAttempts = 4;

    private readonly ConcurrentDictionary<string, ReplyConsumer> _byName = new(StringComparer.Ordinal);

    public int Count => _byName.Count;

    public ReplyConsumer Register(string tag, BrokerChannel channel)
    {
        // A clash of 128 random bits does not happen; trying again only makes sure a name never has two owners.
        for (var attempt = 0; attempt < MaxNameAttempts; attempt++)
        {
            var consumer = new ReplyConsumer(tag, DirectReply.NewName(), channel);
            if (_byName.TryAdd(consumer.Name, consumer))
            {
                return consumer;
            }
        }

        throw new BrokerException(BrokerErrorKind.ResourceError, "could not generate a unique direct reply-to name");
    }

    public void Remove(ReplyConsumer consumer) => _byName.TryRemove(KeyValuePair.Create(consumer.Name, consumer));

    /// <summary>Hands a reply to the consumer its routing key names; false when no live consumer has that name.</summary>
    public bool TryDeliver(BrokerMessage message) =>
        _byName.TryGetValue(message.RoutingKey, out var consumer) && consumer.Channel.DeliverReply(consumer, message);

    /// <summary>
    /// queue.declare of a reply name, as RabbitMQ answers it: the pseudo-queue always exists, a
    /// generated name while its consumer lives; both report no messages and one consumer.
    /// </summary>
    public QueueDeclareResult Describe(string name)
    {
        if (!DirectReply.IsPseudoQueue(name) && !_byName.ContainsKey(name))
        {
            throw BrokerException.NoQueue(vhost, name);
        }

        return new QueueDeclareResult(name, MessageCount: 0, ConsumerCount: 1);
    }
}
