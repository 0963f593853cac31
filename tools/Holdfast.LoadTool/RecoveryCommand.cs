using System.CommandLine;
using Holdfast.Storage;

namespace Holdfast.LoadTool;

/// <summary>
/// <c>recovery</c>: builds a log of <c>--records</c> × <c>--size</c>, then times opening it with no
/// checkpoint (full replay) and with the checkpoint a clean close leaves. One JSON line per step.
/// </summary>
internal static class RecoveryCommand
{
    public static Command Create()
    {
        var dir = new Option<string>("--dir") { Description = "Scratch directory (created; must be new or empty; deleted afterwards unless --keep).", Required = true };
        var records = new Option<long>("--records") { Description = "Records in the log.", DefaultValueFactory = _ => 1_000_000 }.AtLeast(1);
        var size = new Option<int>("--size") { Description = "Payload bytes per record.", DefaultValueFactory = _ => 1000 }.AtLeast(0);
        var segmentSize = new Option<long>("--segment-size") { Description = "Segment size in bytes.", DefaultValueFactory = _ => StoreOptions.DefaultSegmentSizeBytes }.AtLeast(1L << 20);
        var dropCaches = new Option<bool>("--drop-caches") { Description = "Empty the page cache before each open (Linux, root), so the log is read from the disk." };
        var keep = new Option<bool>("--keep") { Description = "Leave the scratch directory in place." };

        var command = new Command("recovery", "Time opening a large store: full replay, and from a clean checkpoint.")
        {
            dir, records, size, segmentSize, dropCaches, keep,
        };
        command.SetAction(async (parse, cancellation) =>
        {
            var options = new RecoveryLoadOptions
            {
                Directory = parse.GetValue(dir)!,
                Records = parse.GetValue(records),
                PayloadBytes = parse.GetValue(size),
                SegmentSizeBytes = parse.GetValue(segmentSize),
                DropCaches = parse.GetValue(dropCaches),
                Keep = parse.GetValue(keep),
            };
            foreach (var result in await RecoveryLoad.RunAsync(options).ConfigureAwait(false))
            {
                await Console.Out.WriteLineAsync(Json.Line(result).AsMemory(), cancellation).ConfigureAwait(false);
            }

            return 0;
        });
        return command;
    }
}
