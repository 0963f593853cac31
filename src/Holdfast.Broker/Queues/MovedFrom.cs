using Holdfast.Storage;

namespace Holdfast.Broker.Queues;

/// <summary>
/// Where a republished message comes from (a dead letter's source queue, a delayed message's
/// holding index). A move is all or nothing: if a target refuses it, it goes nowhere and stays where
/// it was. When the old copy is stored (<see cref="Index"/> set), the store writes the new copies and
/// the old one's ack as one record.
/// </summary>
internal readonly record struct MovedFrom(StoredQueue? Index, long Seq)
{
    /// <summary>A message held in memory only: moved all or nothing, with no stored copy to ack.</summary>
    public static MovedFrom InMemory => new(null, -1);
}
