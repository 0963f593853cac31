using Holdfast.Storage;

namespace Holdfast.Broker.Queues;

/// <summary>
/// Where a republished message comes from (a dead letter's source queue, a delayed message's
/// holding index): the store writes the new copies and this one's ack as one record.
/// </summary>
internal readonly record struct MovedFrom(StoredQueue Index, long Seq);
