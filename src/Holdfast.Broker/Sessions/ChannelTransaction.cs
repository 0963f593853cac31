using Holdfast.Broker.Messages;

namespace Holdfast.Broker.Sessions;

/// <summary>A channel in tx mode holds its publishes and settlements here until commit (or forgets them at rollback).</summary>
internal sealed class ChannelTransaction
{
    public List<(BrokerMessage Message, bool Mandatory)> Publishes { get; } = [];

    public List<(List<Unacked> Deliveries, Settlement Settlement)> Settlements { get; } = [];
}
