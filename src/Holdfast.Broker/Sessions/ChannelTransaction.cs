using Holdfast.Broker.Messages;

namespace Holdfast.Broker.Sessions;

/// <summary>A channel in tx mode holds its publishes and settlements here until commit (or forgets them at rollback).</summary>
internal sealed class ChannelTransaction
{
    /// <summary>Each publish as routed at basic.publish: the queues it reached then, by name (null: a delayed message, routed at its release).</summary>
    public List<(BrokerMessage Message, bool Mandatory, List<string>? Queues)> Publishes { get; } = [];

    public List<(List<Unacked> Deliveries, Settlement Settlement)> Settlements { get; } = [];
}
