using System.Diagnostics;
using Holdfast.Storage;

namespace Holdfast.LoadTool;

/// <summary>
/// The <c>storage</c> scenario: N writers appending to one queue of a store on the real disk,
/// a warm-up, then a measured window read off the store's own counters and the writers' histograms.
/// </summary>
internal static class StorageLoad
{
    private const double Mib = 1024.0 * 1024.0;

    public static async Task<StorageResult> RunAsync(StorageLoadOptions options)
    {
        using var scratch = new ScratchDirectory(options.Directory, options.Keep);
        if (options.BaselineFsync)
        {
            return await Task.Run(() => BaselineFsync.Run(options, scratch.Sub("baseline"))).ConfigureAwait(false);
        }

        var storeOptions = new StoreOptions
        {
            Directory = scratch.Sub("store"),
            SegmentSizeBytes = options.SegmentSizeBytes,
            CheckpointEveryBytes = options.CheckpointEveryBytes,
            DefaultFlushPolicy = options.Policy,
            AutoCompact = false,
            DirectWrites = options.DirectWrites,
        };

        using var sampler = options.TraceAllocations ? new AllocationSampler() : null;
        var store = await MessageStore.OpenAsync(storeOptions).ConfigureAwait(false);
        await using (store.ConfigureAwait(false))
        {
            var queue = await store.DeclareQueueAsync("load").ConfigureAwait(false);
            var window = new RunWindow();
            var writers = new AppendWriter[options.Writers];
            var running = new Task[options.Writers];
            for (var i = 0; i < writers.Length; i++)
            {
                writers[i] = new AppendWriter(store, queue, options.Policy, options.InFlight, options.PayloadBytes, window, seed: i + 1);
                running[i] = Task.Run(writers[i].RunAsync);
            }

            try
            {
                await Task.Delay(options.Warmup).ConfigureAwait(false);
                var statsBefore = store.GetStatistics();
                var before = ProcessSample.Take();
                window.Open(before.Timestamp, options.Duration);
                sampler?.Start();
                await WaitUntil(window.End).ConfigureAwait(false);
                sampler?.Stop();
                var after = ProcessSample.Take();
                var statsAfter = store.GetStatistics();
                window.Stop();
                await Task.WhenAll(running).ConfigureAwait(false);
                sampler?.Report(Console.Error, top: 15);

                var latency = new LatencyHistogram();
                long records = 0;
                foreach (var writer in writers)
                {
                    latency.Add(writer.Latency);
                    records += writer.Completed;
                }

                var seconds = options.Duration.TotalSeconds;
                var fsyncs = statsAfter.Fsyncs - statsBefore.Fsyncs;
                return new StorageResult
                {
                    Scenario = "storage",
                    Policy = options.PolicyName,
                    Writers = options.Writers,
                    InFlight = options.InFlight,
                    Size = options.PayloadBytes,
                    Seconds = seconds,
                    Records = records,
                    RecordsPerS = Math.Round(records / seconds),
                    MibPerS = Math.Round(records * (double)options.PayloadBytes / Mib / seconds, 1),
                    LogMibPerS = Math.Round((statsAfter.WrittenEnd - statsBefore.WrittenEnd) / Mib / seconds, 1),
                    Fsyncs = fsyncs,
                    FsyncsPerS = Math.Round(fsyncs / seconds, 1),
                    RecordsPerFsync = fsyncs == 0 ? 0 : Math.Round(records / (double)fsyncs, 1),
                    AppendLatencyUs = latency.Summarize(),
                    CpuPercent = after.CpuPercentSince(before),
                    AllocBytesPerRecord = records == 0 ? 0 : Math.Round((after.AllocatedBytes - before.AllocatedBytes) / (double)records, 1),
                    Gen0Collections = after.Gen0 - before.Gen0,
                    Gen2Collections = after.Gen2 - before.Gen2,
                    LockContentionsPerRecord = after.LockContentionsPerRecordSince(before, records),
                    SyncCall = NativeSync.CallName,
                    Directory = scratch.Path,
                };
            }
            finally
            {
                // Stop the writers even when the run failed, so disposing the store does not wait on them.
                window.Stop();
            }
        }
    }

    private static async Task WaitUntil(long timestamp)
    {
        while (Stopwatch.GetTimestamp() < timestamp)
        {
            var left = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), timestamp);
            await Task.Delay(left > TimeSpan.FromMilliseconds(1) ? left : TimeSpan.FromMilliseconds(1)).ConfigureAwait(false);
        }
    }
}
