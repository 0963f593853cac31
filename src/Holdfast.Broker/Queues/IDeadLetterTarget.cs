namespace Holdfast.Broker.Queues;

/// <summary>Where a queue hands the messages it dead-letters: its virtual host, which routes them through the dead-letter exchange.</summary>
internal interface IDeadLetterTarget
{
    /// <summary>Republishes each message through the queue's dead-letter exchange; the queue lets a message go only once its new home has it.</summary>
    Task DeadLetterAsync(MessageQueue source, List<DyingMessage> messages);
}
