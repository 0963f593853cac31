using System.Globalization;
using Holdfast.Storage.CrashWriter;
using Holdfast.Storage.Tests.Devices;
using Holdfast.Testing;
using Xunit.Abstractions;

namespace Holdfast.Storage.Tests.Crash;

/// <summary>
/// Kills a real writer process with SIGKILL, over and over, on one store directory. A process crash
/// loses nothing the operating system was given, and Sync appends are confirmed only after fsync, so
/// after every kill each append the writer reported must be in the store exactly once, and no ack it
/// reported may be undone. Odd cycles reopen the crashed store in place (this process recovers it);
/// even cycles check a copy, so the next writer recovers the crash itself, possibly being killed while
/// it does. Set HOLDFAST_CRASH_SEED to replay a run's kill moments.
/// </summary>
public sealed class ProcessCrashTests(ITestOutputHelper output) : IDisposable
{
    private const int Cycles = 20;
    private const string WriterAssembly = "Holdfast.Storage.CrashWriter.dll";
    private static readonly TimeSpan CycleTimeout = TimeSpan.FromSeconds(30);

    private readonly TempDirectory _dir = new("holdfast-crash");
    private readonly Dictionary<string, string> _appended = new(StringComparer.Ordinal);
    private readonly HashSet<string> _acked = new(StringComparer.Ordinal);

    // The most fsyncs the syncer thread had made in one writer process, as it last reported.
    private long _overlappedFsyncs;

    // Whether the writer processes (and the verifying opens) write the log past the page cache.
    private bool _direct;

    private string StorePath => Path.Combine(_dir.Path, "store");

    public void Dispose() => _dir.Dispose();

    [Fact]
    public Task Reported_appends_survive_repeated_SIGKILL_exactly_once_and_reported_acks_stay_done() => RunCyclesAsync();

    /// <summary>
    /// The same with the log's writes past the page cache (StoreOptions.DirectWrites), those from 8 KiB up, so that
    /// direct writes, the buffered small ones and the rewrites of a block one left half full all meet the kills.
    /// </summary>
    [DirectIoFact]
    public Task With_direct_writes_reported_appends_survive_repeated_SIGKILL_exactly_once() => RunCyclesAsync(direct: true);

    private async Task RunCyclesAsync(bool direct = false)
    {
        _direct = direct;
        var seed = Environment.GetEnvironmentVariable("HOLDFAST_CRASH_SEED") is { Length: > 0 } fixedSeed
            ? int.Parse(fixedSeed, CultureInfo.InvariantCulture)
            : Random.Shared.Next();
        output.WriteLine($"seed {seed} (HOLDFAST_CRASH_SEED={seed} replays the kill moments)");
        var random = new Random(seed);
        var cycle = 0;
        try
        {
            for (; cycle < Cycles; cycle++)
            {
                await RunWriterAndKillAsync(cycle, random);
                await VerifyAsync(cycle, inPlace: cycle % 2 == 1);
            }
        }
        catch (Exception ex)
        {
            throw new InvalidOperationException($"Crash test failed in cycle {cycle} with seed {seed} (replay with HOLDFAST_CRASH_SEED={seed}): {ex.Message}", ex);
        }

        output.WriteLine($"{_appended.Count} appends and {_acked.Count} acks reported over {Cycles} kills; up to {_overlappedFsyncs} overlapped fsyncs in one writer's life");

        // The kills must have landed while the syncer thread was in use, not only beside the writer's own fsyncs.
        Assert.True(_overlappedFsyncs > 0, "no writer process ever handed an fsync to the syncer thread");
    }

    private async Task RunWriterAndKillAsync(int cycle, Random random)
    {
        // One kill in eight lands at a random moment from process start, which may be during recovery;
        // the rest after a random number of reported appends.
        var early = random.Next(8) == 0;
        var delay = TimeSpan.FromMilliseconds(random.Next(0, 600));
        var threshold = random.Next(1, 3000);
        using var timeout = new CancellationTokenSource(CycleTimeout);
        var lines = new List<string>();
        await using var writer = _direct
            ? DotnetProcess.Start(WriterAssembly, StorePath, cycle.ToString(CultureInfo.InvariantCulture), CrashProtocol.DirectArgument)
            : DotnetProcess.Start(WriterAssembly, StorePath, cycle.ToString(CultureInfo.InvariantCulture));
        if (early)
        {
            await Task.Delay(delay, timeout.Token);
        }
        else
        {
            var appends = 0;
            while (appends < threshold)
            {
                if (!await writer.Lines.WaitToReadAsync(timeout.Token))
                {
                    throw new InvalidOperationException($"The writer exited before it was killed.\nstderr:\n{writer.StandardError}");
                }

                while (appends < threshold && writer.Lines.TryRead(out var line))
                {
                    lines.Add(line);
                    appends += line.StartsWith("A ", StringComparison.Ordinal) ? 1 : 0;
                }
            }
        }

        writer.Kill();
        var exitCode = await writer.WaitForExitAsync(timeout.Token);
        while (writer.Lines.TryRead(out var line))
        {
            lines.Add(line);
        }

        Assert.True(exitCode == 137 || (early && exitCode != 2), $"writer exit code {exitCode}; stderr:\n{writer.StandardError}");
        var (appended, acked) = Record(lines);
        output.WriteLine(early
            ? $"cycle {cycle}: killed after {delay.TotalMilliseconds} ms; {appended} appends, {acked} acks reported"
            : $"cycle {cycle}: killed after {threshold} appends; {appended} appends, {acked} acks reported");
    }

    private (int Appended, int Acked) Record(List<string> lines)
    {
        int appended = 0, acked = 0;
        foreach (var line in lines)
        {
            var parts = line.Split(' ');
            switch (parts[0])
            {
                case "R":
                    // The writer's own recovery of the previous crash: a process crash never corrupts
                    // the middle of the log and never loses a message.
                    Assert.Contains("corrupt=0 ", line, StringComparison.Ordinal);
                    Assert.Contains("lost=0 ", line, StringComparison.Ordinal);
                    break;
                case "A":
                    Assert.Equal(CrashProtocol.QueueOf(parts[2]), parts[1]);
                    Assert.True(_appended.TryAdd(parts[2], parts[1]), $"append of {parts[2]} reported twice");
                    appended++;
                    break;
                case "S":
                    _overlappedFsyncs = Math.Max(_overlappedFsyncs, long.Parse(parts[1]["overlapped=".Length..], CultureInfo.InvariantCulture));
                    break;
                case "K":
                    Assert.True(CrashProtocol.IsAckCandidate(parts[2]), $"{parts[2]} is not one the writer acks");
                    _acked.Add(parts[2]);
                    acked++;
                    break;
                default:
                    Assert.Fail($"unexpected report line '{line}'");
                    break;
            }
        }

        return (appended, acked);
    }

    private async Task VerifyAsync(int cycle, bool inPlace)
    {
        var path = StorePath;
        if (!inPlace)
        {
            path = Path.Combine(_dir.Path, "verify");
            if (Directory.Exists(path))
            {
                Directory.Delete(path, recursive: true);
            }

            if (Directory.Exists(StorePath))
            {
                StoreDirectory.Copy(StorePath, path);
            }
        }

        var present = new Dictionary<string, int>(StringComparer.Ordinal);
        await using (var store = await MessageStore.OpenAsync(CrashProtocol.Options(path, _direct)))
        {
            Assert.Empty(store.Recovery.CorruptRecords);
            Assert.Equal(0, store.Recovery.MessagesLost);
            foreach (var name in CrashProtocol.QueueNames)
            {
                if (store.FindQueue(name) is not { } queue)
                {
                    continue; // Killed before this queue's declare completed.
                }

                var count = 0;
                for (var from = 0L; ;)
                {
                    var page = store.ReadRange(queue, from, 512);
                    if (page.Count == 0)
                    {
                        break;
                    }

                    foreach (var message in page)
                    {
                        using (message)
                        {
                            Assert.True(CrashProtocol.TryVerify(message.Payload.Span, out var id), $"message {message.Seq} of {name} has a damaged payload");
                            Assert.Equal(CrashProtocol.QueueOf(id), name);
                            Assert.InRange(CrashProtocol.CycleOf(id), 0, cycle);
                            present[id] = present.GetValueOrDefault(id) + 1;
                            from = message.Seq + 1;
                            count++;
                        }
                    }
                }

                Assert.Equal(queue.MessageCount, count);
            }
        }

        var duplicated = present.Where(p => p.Value > 1).Select(p => p.Key).ToList();
        Assert.True(duplicated.Count == 0, $"present more than once: {string.Join(", ", duplicated.Take(10))}");
        var resurrected = _acked.Where(present.ContainsKey).ToList();
        Assert.True(resurrected.Count == 0, $"acked (and reported) but back: {string.Join(", ", resurrected.Take(10))}");
        var missing = _appended.Keys.Where(id => !present.ContainsKey(id) && !CrashProtocol.IsAckCandidate(id)).ToList();
        Assert.True(missing.Count == 0, $"{missing.Count} reported appends missing, e.g. {string.Join(", ", missing.Take(10))}");
        output.WriteLine($"cycle {cycle}: {present.Count} messages verified ({(inPlace ? "in place" : "on a copy")})");
    }
}
