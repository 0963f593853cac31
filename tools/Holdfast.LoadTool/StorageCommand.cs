using System.CommandLine;
using Holdfast.Storage;

namespace Holdfast.LoadTool;

/// <summary>
/// <c>storage</c>: appends from N writers with K in flight each for a fixed time and prints one JSON
/// line; with <c>--baseline-fsync</c>, the same disk's one-write-one-fdatasync rate instead.
/// </summary>
internal static class StorageCommand
{
    public static Command Create()
    {
        var dir = new Option<string>("--dir") { Description = "Scratch directory (created; must be new or empty; deleted afterwards unless --keep).", Required = true };
        var policy = new Option<string>("--policy") { Description = "Flush policy: sync, interval or async.", DefaultValueFactory = _ => "sync" };
        var writers = new Option<int>("--writers") { Description = "Concurrent writer tasks.", DefaultValueFactory = _ => 1 }.AtLeast(1);
        var inFlight = new Option<int>("--in-flight") { Description = "Appends each writer keeps outstanding.", DefaultValueFactory = _ => 1 }.AtLeast(1);
        var size = new Option<int>("--size") { Description = "Payload bytes per record.", DefaultValueFactory = _ => 1024 }.AtLeast(0);
        var seconds = new Option<double>("--seconds") { Description = "Length of the measured window.", DefaultValueFactory = _ => 10 }.AtLeast(0.001);
        var warmup = new Option<double>("--warmup") { Description = "Seconds of load before the window opens.", DefaultValueFactory = _ => 2 }.AtLeast(0);
        var segmentSize = new Option<long>("--segment-size") { Description = "Segment size in bytes.", DefaultValueFactory = _ => StoreOptions.DefaultSegmentSizeBytes }.AtLeast(1L << 20);
        var checkpointEvery = new Option<long>("--checkpoint-every") { Description = "Bytes of log between automatic checkpoints (as StoreOptions.CheckpointEveryBytes).", DefaultValueFactory = _ => new StoreOptions().CheckpointEveryBytes }.AtLeast(1L << 20);
        var intervalMs = new Option<double>("--interval-ms") { Description = "For --policy interval: longest time data stays unsynced.", DefaultValueFactory = _ => 200 }.AtLeast(0.001);
        var intervalBytes = new Option<long>("--interval-bytes") { Description = "For --policy interval: most bytes that stay unsynced.", DefaultValueFactory = _ => 4L << 20 }.AtLeast(1);
        var baseline = new Option<bool>("--baseline-fsync") { Description = "Measure the disk instead: one writer, pwrite + fdatasync per record." };
        var written = new Option<bool>("--baseline-written") { Description = "With --baseline-fsync: zero the file's first 256 MiB (and fdatasync) before measuring, so each fdatasync persists data into written blocks, the cheapest a durable append can be." };
        var direct = new Option<bool>("--direct-writes") { Description = "Log writes bypass the page cache (StoreOptions.DirectWrites)." };
        var keep = new Option<bool>("--keep") { Description = "Leave the scratch directory in place." };
        var traceAllocations = new Option<bool>("--trace-allocations") { Description = "Print the types allocated during the window to stderr (sampled; adds a little allocation of its own)." };

        var command = new Command("storage", "Append load against the storage engine.")
        {
            dir, policy, writers, inFlight, size, seconds, warmup, segmentSize, checkpointEvery, intervalMs, intervalBytes, baseline, written, direct, keep, traceAllocations,
        };
        command.SetAction(async (parse, cancellation) =>
        {
            var policyName = parse.GetValue(policy)!.ToLowerInvariant();
            var options = new StorageLoadOptions
            {
                Directory = parse.GetValue(dir)!,
                Policy = FlushPolicy.Parse(policyName, TimeSpan.FromMilliseconds(parse.GetValue(intervalMs)), parse.GetValue(intervalBytes)),
                PolicyName = policyName,
                Writers = parse.GetValue(writers),
                InFlight = parse.GetValue(inFlight),
                PayloadBytes = parse.GetValue(size),
                Duration = TimeSpan.FromSeconds(parse.GetValue(seconds)),
                Warmup = TimeSpan.FromSeconds(parse.GetValue(warmup)),
                SegmentSizeBytes = parse.GetValue(segmentSize),
                CheckpointEveryBytes = parse.GetValue(checkpointEvery),
                BaselineFsync = parse.GetValue(baseline),
                BaselineIntoWrittenBlocks = parse.GetValue(written),
                DirectWrites = parse.GetValue(direct),
                Keep = parse.GetValue(keep),
                TraceAllocations = parse.GetValue(traceAllocations),
            };
            var result = await StorageLoad.RunAsync(options).ConfigureAwait(false);
            await Console.Out.WriteLineAsync(Json.Line(result).AsMemory(), cancellation).ConfigureAwait(false);
            return 0;
        });
        return command;
    }
}
