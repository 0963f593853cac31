using System.Collections.Immutable;
using Holdfast.Broker.Queues;
using Holdfast.Broker.Routing;

namespace Holdfast.Broker.Topology;

/// <summary>A virtual host's exchanges, routes and queues at one moment. Publishes read it without a lock; topology changes swap in a new one.</summary>
internal sealed record TopologySnapshot(
    ImmutableDictionary<string, ExchangeDefinition> Exchanges,
    RoutingTable Routes,
    ImmutableDictionary<string, MessageQueue> Queues)
{
    public static TopologySnapshot Empty { get; } = new(
        ImmutableDictionary.Create<string, ExchangeDefinition>(StringComparer.Ordinal),
        RoutingTable.Empty,
        ImmutableDictionary.Create<string, MessageQueue>(StringComparer.Ordinal));
}
