using Holdfast.Storage;

namespace Holdfast.Storage.CrashWriter;

/// <summary>One append in flight: append, report, and ack (then report) when the id is an ack candidate.</summary>
public static class WriterLane
{
    public static async Task RunAsync(MessageStore store, IReadOnlyDictionary<string, StoredQueue> queues, int cycle, int writer, long[] counters, TextWriter report, CancellationToken stop)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(queues);
        ArgumentNullException.ThrowIfNull(counters);
        ArgumentNullException.ThrowIfNull(report);
        var seqs = new long[1];
        while (!stop.IsCancellationRequested)
        {
            var id = CrashProtocol.Id(cycle, writer, Interlocked.Increment(ref counters[writer]) - 1);
            var queue = queues[CrashProtocol.QueueOf(id)];
            await store.AppendAsync([queue], CrashProtocol.Payload(id), seqs);
            await report.WriteLineAsync($"A {queue.Name} {id}");
            if (CrashProtocol.IsAckCandidate(id))
            {
                await store.AckAsync(queue, seqs[0]);
                await report.WriteLineAsync($"K {queue.Name} {id}");
            }
        }
    }
}
