using Holdfast.Storage;

namespace Holdfast.Storage.CrashWriter;

/// <summary>
/// Acks, in small batches, the ack candidates that earlier runs appended but were killed before
/// acking, so acks of messages recovered from a crash are exercised too.
/// </summary>
public static class OldCycleAcker
{
    private const int BatchSize = 16;

    public static async Task RunAsync(MessageStore store, IReadOnlyDictionary<string, StoredQueue> queues, int cycle, TextWriter report, CancellationToken stop)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(queues);
        ArgumentNullException.ThrowIfNull(report);
        foreach (var queue in queues.Values)
        {
            var batch = new List<(long Seq, string Id)>(BatchSize);
            while (!stop.IsCancellationRequested && store.TryReadNext(queue, out var message))
            {
                string id;
                using (message)
                {
                    if (!CrashProtocol.TryVerify(message!.Payload.Span, out id))
                    {
                        throw new InvalidDataException($"Message {message.Seq} of {queue.Name} does not carry a payload this writer makes.");
                    }

                }

                if (CrashProtocol.CycleOf(id) == cycle)
                {
                    break; // This run's own messages: the writers ack those.
                }

                if (CrashProtocol.IsAckCandidate(id))
                {
                    batch.Add((message.Seq, id));
                }

                if (batch.Count == BatchSize)
                {
                    await AckAsync(store, queue, batch, report);
                }
            }

            await AckAsync(store, queue, batch, report);
        }
    }

    private static async Task AckAsync(MessageStore store, StoredQueue queue, List<(long Seq, string Id)> batch, TextWriter report)
    {
        if (batch.Count == 0)
        {
            return;
        }

        await store.AckAsync(queue, batch.Select(b => b.Seq).ToArray());
        foreach (var (_, id) in batch)
        {
            await report.WriteLineAsync($"K {queue.Name} {id}");
        }

        batch.Clear();
    }
}
