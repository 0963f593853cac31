namespace Holdfast.Broker.Queues;

/// <summary>What a full queue does with one more message (<c>x-overflow</c>).</summary>
internal enum OverflowBehaviour
{
    /// <summary>Drop (later: dead-letter) the oldest ready message.</summary>
    DropHead,

    /// <summary>Refuse the new message: its publisher gets basic.nack.</summary>
    RejectPublish,

    /// <summary>As reject-publish, and the refused message is dead-lettered (once dead-lettering exists).</summary>
    RejectPublishDeadLetter,
}
