using Holdfast.Broker.Messages;

namespace Holdfast.Broker.Sessions;

/// <summary>A message fetched with basic.get, and how many ready messages the queue has left.</summary>
public sealed record GetResult(ulong DeliveryTag, bool Redelivered, BrokerMessage Message, long MessageCount);
