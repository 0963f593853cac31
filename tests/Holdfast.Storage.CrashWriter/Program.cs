using System.Globalization;
using Holdfast.Storage;
using Holdfast.Storage.CrashWriter;

// Opens a store, then appends (and acks) from many concurrent writers until it is killed, reporting
// each operation on stdout only once its task has completed. See CrashProtocol for the contract.
if (args.Length is < 2 or > 3 || (args.Length == 3 && args[2] != CrashProtocol.DirectArgument) || !int.TryParse(args[1], NumberStyles.None, CultureInfo.InvariantCulture, out var cycle))
{
    await Console.Error.WriteLineAsync("usage: Holdfast.Storage.CrashWriter <store directory> <cycle> [direct]");
    return 64;
}

// Bounds a run the test forgot to kill; the test treats any exit of its own as a failure.
var maxRun = TimeSpan.FromSeconds(60);
var stdout = Console.Out;
await using var store = await MessageStore.OpenAsync(CrashProtocol.Options(args[0], directWrites: args.Length == 3));
var recovery = store.Recovery;
await stdout.WriteLineAsync(string.Create(
    CultureInfo.InvariantCulture,
    $"R records={recovery.RecordsRecovered} truncated={recovery.BytesTruncated} corrupt={recovery.CorruptRecords.Count} lost={recovery.MessagesLost} rebuilt={recovery.IndexEntriesRebuilt}"));

var queues = new Dictionary<string, StoredQueue>(StringComparer.Ordinal);
foreach (var name in CrashProtocol.QueueNames)
{
    queues[name] = await store.DeclareQueueAsync(name);
}

using var stop = new CancellationTokenSource();
var counters = new long[CrashProtocol.Writers];
var work = new List<Task>
{
    Task.Run(() => OldCycleAcker.RunAsync(store, queues, cycle, stdout, stop.Token)),
    Task.Run(async () =>
    {
        while (!stop.IsCancellationRequested)
        {
            await Task.Delay(50);
            await stdout.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"S overlapped={store.GetStatistics().OverlappedFsyncs}"));
        }
    }),
};
for (var writer = 0; writer < CrashProtocol.Writers; writer++)
{
    for (var lane = 0; lane < CrashProtocol.InFlightPerWriter; lane++)
    {
        var w = writer;
        work.Add(Task.Run(() => WriterLane.RunAsync(store, queues, cycle, w, counters, stdout, stop.Token)));
    }
}

var all = Task.WhenAll(work);
var finished = await Task.WhenAny(all, Task.Delay(maxRun));
await stop.CancelAsync();
try
{
    await all;
}
catch (Exception ex) when (ex is not OutOfMemoryException)
{
    await Console.Error.WriteLineAsync("crash writer failed: " + ex);
    return 2;
}

await Console.Error.WriteLineAsync(finished == all ? "crash writer: every writer stopped on its own" : "crash writer: ran its maximum time without being killed");
return 3;
