using System.Text;
using Holdfast.Testing;

namespace Holdfast.Storage.Tests.Host;

/// <summary>
/// The <c>holdfast run</c> verb as an operator sees it: a real process that recovers the store,
/// reports what it found, and on SIGTERM or SIGINT closes the store (flush, checkpoint) and exits 0.
/// </summary>
public sealed class RunCommandTests : IDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Theory]
    [InlineData("TERM")]
    [InlineData("INT")]
    public async Task Run_reports_its_recovery_and_closes_the_store_cleanly_on_a_signal(string signal)
    {
        var data = Path.Combine(_dir.Path, "data");
        await WriteCrashImageAsync(data);

        using var timeout = new CancellationTokenSource(Timeout);
        var lines = new List<string>();
        int exitCode;
        await using (var holdfast = DotnetProcess.Start("holdfast.dll", "run", "--data-dir", data, "--amqp-port", "0"))
        {
            var report = await holdfast.ReadUntilAsync(l => l.StartsWith("holdfast: recovered ", StringComparison.Ordinal), timeout.Token);
            Assert.Contains("recovered 1 queues with 3 messages", report, StringComparison.Ordinal);
            Assert.Contains("checkpoint 1, replayed 2 records", report, StringComparison.Ordinal);
            Assert.Contains("0 torn bytes truncated, 0 corrupt regions skipped", report, StringComparison.Ordinal);
            await holdfast.ReadUntilAsync(l => l.StartsWith("holdfast: ready", StringComparison.Ordinal), timeout.Token);

            await holdfast.SignalAsync(signal);
            exitCode = await holdfast.WaitForExitAsync(timeout.Token);
            while (holdfast.Lines.TryRead(out var line))
            {
                lines.Add(line);
            }

            Assert.True(exitCode == 0, $"exit code {exitCode}\nstdout after ready:\n{string.Join('\n', lines)}\nstderr:\n{holdfast.StandardError}");
        }

        Assert.Contains("holdfast: stopping: flushing and checkpointing.", lines);

        // Checkpoint 2 came from recovery at start, checkpoint 3 from the close: nothing left to replay.
        await using var store = await MessageStore.OpenAsync(new StoreOptions { Directory = data });
        Assert.Equal(3, store.Recovery.CheckpointGeneration);
        Assert.Equal(0, store.Recovery.RecordsRecovered);
        Assert.Equal(0, store.Recovery.BytesTruncated);
        var queue = store.FindQueue("q")!;
        var bodies = new List<string>();
        while (store.TryReadNext(queue, out var message))
        {
            using (message)
            {
                bodies.Add(Encoding.UTF8.GetString(message!.Payload.Span));
            }
        }

        Assert.Equal(["before", "after 1", "after 2"], bodies);
    }

    /// <summary>A store killed after its first checkpoint with two records after it, so <c>run</c> has something to replay.</summary>
    private async Task WriteCrashImageAsync(string image)
    {
        var live = Path.Combine(_dir.Path, "live");
        await using var store = await MessageStore.OpenAsync(new StoreOptions { Directory = live });
        var queue = await store.DeclareQueueAsync("q");
        await store.AppendAsync([queue], "before"u8);
        await store.CheckpointAsync();
        await store.AppendAsync([queue], "after 1"u8);
        await store.AppendAsync([queue], "after 2"u8);
        StoreDirectory.Copy(live, image);
    }
}
