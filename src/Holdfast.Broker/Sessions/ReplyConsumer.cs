namespace Holdfast.Broker.Sessions;

/// <summary>
/// A channel's consumer of <see cref="DirectReply.PseudoQueue"/>: the tag its deliveries carry and the
/// generated reply name that routes to it. A channel has at most one, as in RabbitMQ.
/// </summary>
internal sealed class ReplyConsumer(string tag, string name, BrokerChannel channel)
{
    public string Tag { get; } = tag;

    public string Name { get; } = name;

    public BrokerChannel Channel { get; } = channel;
}
