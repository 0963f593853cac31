using System.CommandLine;
using System.Globalization;
using Holdfast.Storage;

namespace Holdfast;

/// <summary>
/// <c>holdfast run</c>: opens and recovers the store, reports what it found, and serves until Ctrl+C
/// or SIGTERM, then closes the store cleanly (flush, checkpoint) so the next start is quick.
/// The AMQP listener joins this verb when the broker exists.
/// </summary>
internal static class RunCommand
{
    public static Command Create()
    {
        var dataDir = new Option<string>("--data-dir") { Description = "Directory holding the store.", DefaultValueFactory = _ => "data" };
        var flush = new Option<string>("--flush") { Description = "Flush policy: sync (fsync before confirm, the default), interval or async.", DefaultValueFactory = _ => "sync" };
        var command = new Command("run", "Open the store, recover it, and serve until stopped.") { dataDir, flush };
        command.SetAction(async (parse, cancellation) =>
        {
            var options = new StoreOptions
            {
                Directory = parse.GetValue(dataDir)!,
                DefaultFlushPolicy = FlushPolicy.Parse(parse.GetValue(flush)!, TimeSpan.FromMilliseconds(200), 4L << 20),
            };
            return await RunAsync(options, cancellation).ConfigureAwait(false);
        });
        return command;
    }

    private static async Task<int> RunAsync(StoreOptions options, CancellationToken cancellation)
    {
        var output = Console.Out;
        await output.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"holdfast: opening store in {Path.GetFullPath(options.Directory)} (flush policy {options.DefaultFlushPolicy})")).ConfigureAwait(false);
        await using var store = await MessageStore.OpenAsync(options).ConfigureAwait(false);
        await output.WriteLineAsync("holdfast: " + store.Recovery).ConfigureAwait(false);
        foreach (var corrupt in store.Recovery.CorruptRecords)
        {
            await output.WriteLineAsync("holdfast: corrupt: " + corrupt).ConfigureAwait(false);
        }

        foreach (var warning in store.Recovery.Warnings)
        {
            await output.WriteLineAsync("holdfast: warning: " + warning).ConfigureAwait(false);
        }

        await output.WriteLineAsync("holdfast: ready; press Ctrl+C to stop.").ConfigureAwait(false);
        try
        {
            await Task.Delay(Timeout.Infinite, cancellation).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            await output.WriteLineAsync("holdfast: stopping: flushing and checkpointing.").ConfigureAwait(false);
        }

        return 0;
    }
}
