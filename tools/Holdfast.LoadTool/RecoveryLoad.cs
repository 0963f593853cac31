using System.Diagnostics;
using Holdfast.Storage;

namespace Holdfast.LoadTool;

/// <summary>
/// The <c>recovery</c> scenario: how long <see cref="MessageStore.OpenAsync"/> takes on a big log,
/// with and without a checkpoint.
/// <para>
/// How the two data directories are made without a test hook in the engine: the log is built with
/// the Async policy and automatic checkpoints off (<see cref="StoreOptions.CheckpointEveryBytes"/> at
/// its maximum), so while the store is open no checkpoint exists. Once every append has completed
/// (Async completes when the record is written to the operating system), the directory is copied:
/// the copy is exactly what a crash at that moment would leave, a log and no checkpoint. Then the
/// store is closed cleanly, which checkpoints the original. Opening the copy is the full replay;
/// opening the original is the clean start.
/// </para>
/// </summary>
internal static class RecoveryLoad
{
    private const int BuildInFlight = 1024;

    public static async Task<IReadOnlyList<RecoveryResult>> RunAsync(RecoveryLoadOptions options)
    {
        using var scratch = new ScratchDirectory(options.Directory, options.Keep);
        var checkpointed = scratch.Sub("checkpointed");
        var crashed = scratch.Sub("no-checkpoint");
        var results = new List<RecoveryResult>();

        var clock = Stopwatch.StartNew();
        StoreStatistics built;
        var store = await MessageStore.OpenAsync(StoreOptionsFor(checkpointed, options)).ConfigureAwait(false);
        await using (store.ConfigureAwait(false))
        {
            var queue = await store.DeclareQueueAsync("recovery").ConfigureAwait(false);
            await AppendAll(store, queue, options.Records, options.PayloadBytes).ConfigureAwait(false);
            built = store.GetStatistics();
            if (built.Checkpoints != 0 || HasCheckpoint(checkpointed))
            {
                throw new InvalidOperationException("A checkpoint was taken while building the log; the replay measurement would not be a full replay.");
            }

            CopyDirectory(checkpointed, crashed);
        }

        clock.Stop();
        if (!HasCheckpoint(checkpointed))
        {
            throw new InvalidOperationException("Closing the store did not leave a checkpoint; the clean-start measurement would replay the log.");
        }

        results.Add(new RecoveryResult
        {
            Scenario = "recovery-build",
            Records = options.Records,
            Size = options.PayloadBytes,
            LogBytes = built.WrittenEnd,
            Segments = built.Segments,
            Ms = Math.Round(clock.Elapsed.TotalMilliseconds, 1),
            ColdCache = false,
            Directory = scratch.Path,
        });

        results.Add(await TimeOpen("recovery-replay", crashed, options).ConfigureAwait(false));
        results.Add(await TimeOpen("recovery-checkpoint", checkpointed, options).ConfigureAwait(false));
        return results;
    }

    private static StoreOptions StoreOptionsFor(string directory, RecoveryLoadOptions options) => new()
    {
        Directory = directory,
        SegmentSizeBytes = options.SegmentSizeBytes,
        DefaultFlushPolicy = FlushPolicy.Async,
        CheckpointEveryBytes = long.MaxValue,
        AutoCompact = false,
    };

    private static async Task<RecoveryResult> TimeOpen(string scenario, string directory, RecoveryLoadOptions options)
    {
        if (options.DropCaches)
        {
            PageCache.Drop();
        }

        var started = Stopwatch.GetTimestamp();
        var store = await MessageStore.OpenAsync(StoreOptionsFor(directory, options)).ConfigureAwait(false);
        var elapsed = Stopwatch.GetElapsedTime(started);
        await using (store.ConfigureAwait(false))
        {
            var recovery = store.Recovery;
            if (recovery.Messages != options.Records)
            {
                throw new InvalidOperationException($"{scenario}: the store opened with {recovery.Messages} messages, not the {options.Records} written.");
            }

            var statistics = store.GetStatistics();
            return new RecoveryResult
            {
                Scenario = scenario,
                Records = options.Records,
                Size = options.PayloadBytes,
                LogBytes = statistics.WrittenEnd,
                Segments = statistics.Segments,
                Ms = Math.Round(elapsed.TotalMilliseconds, 1),
                RecoveryMs = Math.Round(recovery.Duration.TotalMilliseconds, 1),
                RecordsReplayed = recovery.RecordsRecovered,
                MessagesLoaded = recovery.Messages,
                ColdCache = options.DropCaches,
                Directory = directory,
            };
        }
    }

    /// <summary>Appends <paramref name="count"/> records keeping a bounded number in flight.</summary>
    private static async Task AppendAll(MessageStore store, StoredQueue queue, long count, int payloadBytes)
    {
        var payload = new byte[payloadBytes];
        new Random(7).NextBytes(payload);
        var queues = new[] { queue };
        var pending = new ValueTask[BuildInFlight];
        for (long i = 0; i < count + BuildInFlight; i++)
        {
            var slot = (int)(i % BuildInFlight);
            if (i >= BuildInFlight)
            {
                await pending[slot];
            }

            if (i < count)
            {
#pragma warning disable CA2012 // A bounded ring of outstanding appends; each slot is awaited exactly once above.
                pending[slot] = store.AppendAsync(queues, payload);
#pragma warning restore CA2012
            }
        }
    }

    private static bool HasCheckpoint(string directory) =>
        File.Exists(Path.Combine(directory, "checkpoint.0")) || File.Exists(Path.Combine(directory, "checkpoint.1"));

    private static void CopyDirectory(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (var file in Directory.GetFiles(from))
        {
            File.Copy(file, Path.Combine(to, Path.GetFileName(file)));
        }

        foreach (var sub in Directory.GetDirectories(from))
        {
            CopyDirectory(sub, Path.Combine(to, Path.GetFileName(sub)));
        }
    }
}
