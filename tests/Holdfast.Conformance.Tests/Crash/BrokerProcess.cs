using System.Globalization;
using System.Net;
using System.Text;
using System.Text.RegularExpressions;
using Holdfast.Testing;

namespace Holdfast.Conformance.Tests.Crash;

/// <summary>
/// The real executable, <c>holdfast run</c> (holdfast.dll from the test output directory), in its own
/// process on a data directory the test keeps across starts. It listens on a port the system picks and
/// reports it in its ready line. Every stdout line is kept: the recovery report, and the log's warnings
/// and errors, go into failure messages together with stderr.
/// </summary>
internal sealed partial class BrokerProcess : IAsyncDisposable
{
    private const string Assembly = "holdfast.dll";

    private readonly DotnetProcess _process;
    private readonly List<string> _lines = [];
    private readonly TaskCompletionSource _opening = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource<int> _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Task _pump;

    private BrokerProcess(DotnetProcess process)
    {
        _process = process;
        _pump = Task.Run(PumpAsync);
    }

    /// <summary>The "recovered … messages lost" line, once the broker has printed it.</summary>
    public string? RecoveryLine => Snapshot().FirstOrDefault(line => line.StartsWith("holdfast: recovered ", StringComparison.Ordinal));

    public string StandardError => _process.StandardError;

    /// <summary>Whether the broker has printed its ready line (recovered, listening).</summary>
    public bool IsReady => _ready.Task.IsCompletedSuccessfully;

    /// <summary>Log lines at warning level or above, and the recovery's corrupt-region and warning lines.</summary>
    public IReadOnlyList<string> Complaints => [.. Snapshot().Where(IsComplaint)];

    /// <summary>Errors only: log lines at error or critical level, and stderr. A healthy broker killed at random prints none.</summary>
    public IReadOnlyList<string> Errors
    {
        get
        {
            var errors = Snapshot().Where(line => line.Contains(" fail: ", StringComparison.Ordinal) || line.Contains(" crit: ", StringComparison.Ordinal)).ToList();
            if (StandardError is { Length: > 0 } stderr)
            {
                errors.Add("stderr: " + stderr.Trim());
            }

            return errors;
        }
    }

    /// <summary>Starts <c>holdfast run</c> on <paramref name="dataDir"/> with sync flushing and a system-picked port.</summary>
    public static BrokerProcess Start(string dataDir) =>
        new(DotnetProcess.Start(Assembly, "run", "--data-dir", dataDir, "--amqp-port", "0", "--bind", "127.0.0.1", "--flush", "sync"));

    /// <summary>Completes when the broker says it is opening the store: recovery is about to run.</summary>
    public async Task WaitOpeningAsync(CancellationToken cancellation)
    {
        try
        {
            await _opening.Task.WaitAsync(cancellation);
        }
        catch (OperationCanceledException) when (cancellation.IsCancellationRequested)
        {
            throw new TimeoutException($"The broker did not start opening its store in time.\n{Describe()}");
        }
    }

    /// <summary>Waits for the ready line and returns the port; throws with the broker's output if it exits or the wait ends first.</summary>
    public async Task<int> WaitReadyAsync(CancellationToken cancellation)
    {
        try
        {
            return await _ready.Task.WaitAsync(cancellation);
        }
        catch (OperationCanceledException) when (cancellation.IsCancellationRequested)
        {
            throw new TimeoutException($"The broker did not become ready in time.\n{Describe()}");
        }
    }

    /// <summary>SIGKILL (on Linux): nothing runs in the broker, nothing is flushed. Returns the exit code.</summary>
    public async Task<int> KillAsync(TimeSpan timeout)
    {
        Kill();
        return await WaitForExitAsync(timeout);
    }

    /// <summary>Sends SIGKILL and returns; <see cref="WaitForExitAsync"/> waits for the process to be gone.</summary>
    public void Kill() => _process.Kill();

    /// <summary>SIGTERM: the broker closes connections and the store cleanly. Returns the exit code.</summary>
    public async Task<int> StopAsync(TimeSpan timeout)
    {
        await _process.SignalAsync("TERM");
        return await WaitForExitAsync(timeout);
    }

    /// <summary>The broker's output so far, for failure messages: complaints, the last stdout lines, stderr.</summary>
    public string Describe()
    {
        var lines = Snapshot();
        var text = new StringBuilder();
        var complaints = lines.Where(IsComplaint).Take(20).ToList();
        if (complaints.Count > 0)
        {
            text.AppendLine("broker warnings and errors:").AppendJoin('\n', complaints).AppendLine();
        }

        text.AppendLine("broker stdout (last lines):").AppendJoin('\n', lines.TakeLast(15)).AppendLine();
        text.Append("broker stderr:").AppendLine().Append(StandardError);
        return text.ToString();
    }

    public async ValueTask DisposeAsync()
    {
        await _process.DisposeAsync();
        await Task.WhenAll(_pump).WaitAsync(TimeSpan.FromSeconds(5));
    }

    private static bool IsComplaint(string line) =>
        line.Contains(" warn: ", StringComparison.Ordinal)
        || line.Contains(" fail: ", StringComparison.Ordinal)
        || line.Contains(" crit: ", StringComparison.Ordinal)
        || line.StartsWith("holdfast: corrupt:", StringComparison.Ordinal)
        || line.StartsWith("holdfast: warning:", StringComparison.Ordinal);

    [GeneratedRegex(@"^holdfast: ready: AMQP on (?<endpoint>\S+);", RegexOptions.CultureInvariant)]
    private static partial Regex ReadyLine();

    /// <summary>Waits for the process to exit and returns its exit code; throws with its output if it takes longer than <paramref name="timeout"/>.</summary>
    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        using var cancellation = new CancellationTokenSource(timeout);
        try
        {
            return await _process.WaitForExitAsync(cancellation.Token);
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"The broker process {_process.Id} did not exit within {timeout.TotalSeconds} s.\n{Describe()}");
        }
    }

    private List<string> Snapshot()
    {
        lock (_lines)
        {
            return [.. _lines];
        }
    }

    private async Task PumpAsync()
    {
        try
        {
            await foreach (var line in _process.Lines.ReadAllAsync())
            {
                lock (_lines)
                {
                    _lines.Add(line);
                }

                if (line.StartsWith("holdfast: opening store", StringComparison.Ordinal))
                {
                    _opening.TrySetResult();
                }

                if (ReadyLine().Match(line) is { Success: true } ready)
                {
                    _ready.TrySetResult(IPEndPoint.Parse(ready.Groups["endpoint"].Value).Port);
                }
            }
        }
        finally
        {
            // Stdout closed: the process is gone (or going). Give stderr a moment to be read to the end.
            await Task.Delay(100);
            var failure = new InvalidOperationException($"The broker exited before it was ready.\n{Describe()}");
            _opening.TrySetException(failure);
            _ready.TrySetException(failure);
            _ = _opening.Task.Exception;
            _ = _ready.Task.Exception;
        }
    }

    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"holdfast pid {_process.Id}");
}
