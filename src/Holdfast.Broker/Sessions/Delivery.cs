using Holdfast.Broker.Messages;

namespace Holdfast.Broker.Sessions;

/// <summary>A message going to a consumer: which consumer, the channel's tag for it, and whether it was delivered before.</summary>
public readonly record struct Delivery(string ConsumerTag, ulong DeliveryTag, bool Redelivered, BrokerMessage Message);
