using System.Diagnostics;
using System.Text;
using System.Threading.Channels;

namespace Holdfast.Testing;

/// <summary>
/// A .NET program from the test output directory, run as <c>dotnet &lt;dll&gt; args…</c> in its own
/// process. Its stdout arrives as complete lines only: a last line cut off by a kill (no newline) is
/// dropped and counted in <see cref="DroppedTailBytes"/>, so a torn report is never mistaken for a
/// shorter, different one. Its stderr is kept for failure messages.
/// </summary>
public sealed class DotnetProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly Channel<string> _lines = Channel.CreateUnbounded<string>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
    private readonly StringBuilder _stderr = new();
    private readonly Task _stdoutPump;
    private readonly Task _stderrPump;
    private long _droppedTailBytes;

    private DotnetProcess(Process process)
    {
        _process = process;
        _stdoutPump = Task.Run(PumpStdoutAsync);
        _stderrPump = Task.Run(PumpStderrAsync);
    }

    public int Id => _process.Id;

    /// <summary>Complete stdout lines, in order; completes when the process closes its stdout.</summary>
    public ChannelReader<string> Lines => _lines.Reader;

    public string StandardError
    {
        get
        {
            lock (_stderr)
            {
                return _stderr.ToString();
            }
        }
    }

    public long DroppedTailBytes => Interlocked.Read(ref _droppedTailBytes);

    /// <summary>Starts <paramref name="assemblyFileName"/> from the directory the tests run in.</summary>
    public static DotnetProcess Start(string assemblyFileName, params string[] arguments) =>
        Start(assemblyFileName, new Dictionary<string, string>(), arguments);

    /// <summary>As <see cref="Start(string, string[])"/>, with <paramref name="environment"/> added to the inherited environment.</summary>
    public static DotnetProcess Start(string assemblyFileName, IReadOnlyDictionary<string, string> environment, params string[] arguments)
    {
        ArgumentNullException.ThrowIfNull(environment);
        ArgumentNullException.ThrowIfNull(arguments);
        var assembly = Path.Combine(AppContext.BaseDirectory, assemblyFileName);
        if (!File.Exists(assembly))
        {
            throw new FileNotFoundException($"{assemblyFileName} is not in the test output directory; the test project must reference its project.", assembly);
        }

        var start = new ProcessStartInfo(DotnetHost())
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
        };
        start.ArgumentList.Add(assembly);
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        foreach (var (name, value) in environment)
        {
            start.Environment[name] = value;
        }

        var process = Process.Start(start) ?? throw new InvalidOperationException("dotnet did not start.");
        return new DotnetProcess(process);
    }

    /// <summary>SIGKILL on Linux: no handler runs, nothing is flushed.</summary>
    public void Kill() => _process.Kill(entireProcessTree: true);

    /// <summary>Sends a signal by name (<c>TERM</c>, <c>INT</c>) with the system's <c>kill</c>.</summary>
    public async Task SignalAsync(string signal)
    {
        using var kill = Process.Start(new ProcessStartInfo("kill") { ArgumentList = { "-s", signal, _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture) }, UseShellExecute = false })
            ?? throw new InvalidOperationException("kill did not start.");
        await kill.WaitForExitAsync();
        if (kill.ExitCode != 0)
        {
            throw new InvalidOperationException($"kill -s {signal} {_process.Id} exited with {kill.ExitCode}.");
        }
    }

    /// <summary>Waits for the process to exit and its output to be read to the end; returns the exit code.</summary>
    public async Task<int> WaitForExitAsync(CancellationToken cancellation = default)
    {
        await _process.WaitForExitAsync(cancellation);
        await Task.WhenAll(_stdoutPump, _stderrPump).WaitAsync(cancellation);
        return _process.ExitCode;
    }

    /// <summary>Reads lines until one satisfies <paramref name="match"/>; throws with stderr when the output ends first.</summary>
    public async Task<string> ReadUntilAsync(Func<string, bool> match, CancellationToken cancellation)
    {
        ArgumentNullException.ThrowIfNull(match);
        var seen = new StringBuilder();
        await foreach (var line in _lines.Reader.ReadAllAsync(cancellation))
        {
            seen.AppendLine(line);
            if (match(line))
            {
                return line;
            }
        }

        throw new InvalidOperationException($"The process ended before the expected line.\nstdout:\n{seen}\nstderr:\n{StandardError}");
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
            }

            // Bounded: a process that outlives SIGKILL or keeps its output open fails the test instead of hanging the run.
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            await WaitForExitAsync(timeout.Token);
        }
        finally
        {
            _process.Dispose();
        }
    }

    private static string DotnetHost()
    {
        if (Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host && File.Exists(host))
        {
            return host;
        }

        var current = Environment.ProcessPath;
        return current is not null && Path.GetFileNameWithoutExtension(current) == "dotnet" ? current : "dotnet";
    }

    private async Task PumpStdoutAsync()
    {
        var stream = _process.StandardOutput.BaseStream;
        var buffer = new byte[64 * 1024];
        var partial = new List<byte>();
        try
        {
            while (true)
            {
                var read = await stream.ReadAsync(buffer);
                if (read == 0)
                {
                    break;
                }

                var start = 0;
                for (var i = 0; i < read; i++)
                {
                    if (buffer[i] != (byte)'\n')
                    {
                        continue;
                    }

                    partial.AddRange(buffer.AsSpan(start, i - start));
                    _lines.Writer.TryWrite(Encoding.UTF8.GetString([.. partial]).TrimEnd('\r'));
                    partial.Clear();
                    start = i + 1;
                }

                partial.AddRange(buffer.AsSpan(start, read - start));
            }

            Interlocked.Exchange(ref _droppedTailBytes, partial.Count);
        }
        finally
        {
            _lines.Writer.TryComplete();
        }
    }

    private async Task PumpStderrAsync()
    {
        var buffer = new char[4096];
        while (true)
        {
            var read = await _process.StandardError.ReadAsync(buffer);
            if (read == 0)
            {
                return;
            }

            lock (_stderr)
            {
                _stderr.Append(buffer, 0, read);
            }
        }
    }
}
