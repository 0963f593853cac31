using Holdfast.Broker.Queues;

namespace Holdfast.Broker.Sessions;

/// <summary>A delivery waiting for its ack: which queue and message it was, and which consumer's credit it holds (none for basic.get).</summary>
internal sealed record Unacked(ulong Tag, MessageQueue Queue, QueuedMessage Entry, Consumer? Consumer, long Size);
