namespace Holdfast.Broker.Queues;

/// <summary>A message on its way out of a queue to the dead-letter exchange, and why (RabbitMQ's reasons: expired, rejected, maxlen, delivery_limit).</summary>
internal readonly record struct DyingMessage(QueuedMessage Entry, string Reason);
