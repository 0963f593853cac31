namespace Holdfast.Broker.Queues;

/// <summary>What a queue needs from its virtual host: routing for dead letters, its own deletion when it expires, and a place to note its lease.</summary>
internal interface IQueueHost
{
    /// <summary>Republishes each message through the queue's dead-letter exchange; the queue lets a message go only once its new home has it.</summary>
    Task DeadLetterAsync(MessageQueue source, List<DyingMessage> messages);

    /// <summary>The queue went unused for its <c>x-expires</c> period: delete it.</summary>
    Task ExpireAsync(MessageQueue queue);

    /// <summary>Notes durably that a stored message waits out a retry delay until <paramref name="dueMs"/>, or (null) that it no longer does.</summary>
    void RecordRetry(MessageQueue queue, long storeSeq, long? dueMs);

    /// <summary>Notes durably when the queue was last used, so its expiry survives a restart.</summary>
    void RecordLastUse(MessageQueue queue, long lastUsedMs);
}
