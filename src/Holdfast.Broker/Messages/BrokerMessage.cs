namespace Holdfast.Broker.Messages;

/// <summary>A published message as the broker handles it, whatever door it came through.</summary>
public sealed record BrokerMessage(string Exchange, string RoutingKey, MessageProperties Properties, ReadOnlyMemory<byte> Body);
