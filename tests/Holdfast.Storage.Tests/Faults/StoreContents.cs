namespace Holdfast.Storage.Tests.Faults;

/// <summary>What a store holds, read without delivering anything.</summary>
internal static class StoreContents
{
    /// <summary>The ids of the live messages of a queue, in sequence order (empty when the queue does not exist).</summary>
    public static List<int> Ids(MessageStore store, string queueName) => [.. Messages(store, queueName).Select(m => m.Id)];

    public static List<(long Seq, int Id, int DeliveryCount)> Messages(MessageStore store, string queueName)
    {
        var queue = store.FindQueue(queueName);
        if (queue is null)
        {
            return [];
        }

        // A message whose record cannot be read is written off silently by ReadRange (reported only
        // through OnCorruption): count before reading, so that it shows up as a difference.
        var live = queue.MessageCount;
        var result = new List<(long, int, int)>();
        foreach (var message in store.ReadRange(queue, 0, int.MaxValue))
        {
            using (message)
            {
                result.Add((message.Seq, TestPayload.Id(message.Payload.Span), message.DeliveryCount));
            }
        }

        if (result.Count != live)
        {
            throw new InvalidDataException($"Queue '{queueName}' holds {live} messages but only {result.Count} could be read: {store.GetStatistics()}");
        }

        return result;
    }
}
