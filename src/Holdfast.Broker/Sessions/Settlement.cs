namespace Holdfast.Broker.Sessions;

/// <summary>What becomes of delivered messages: acked (gone), requeued, or rejected (gone, or dead-lettered once that exists).</summary>
internal enum Settlement
{
    Ack,
    Requeue,
    Discard,
}
