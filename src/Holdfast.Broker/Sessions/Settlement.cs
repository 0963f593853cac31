namespace Holdfast.Broker.Sessions;

/// <summary>What becomes of delivered messages: acked (gone), requeued, or rejected (gone, or dead-lettered once that exists).</summary>
internal enum Settlement
{
    Ack,
    /// <summary>Back to the queue at once (recover, a closed channel).</summary>
    Requeue,

    /// <summary>Back to the queue after a failure (nack or reject with requeue): after the queue's next retry delay, if it has <c>x-retry-delays</c>.</summary>
    Retry,
    Discard,
}
