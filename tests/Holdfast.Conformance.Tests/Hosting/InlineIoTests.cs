using System.Net;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.RegularExpressions;
using Holdfast.Conformance.Tests.Support;
using Holdfast.Hosting;
using Holdfast.Testing;
using RabbitMQ.Client;

namespace Holdfast.Conformance.Tests.Hosting;

/// <summary>
/// <c>Amqp:InlineIo</c>: by default the broker runs its protocol code on the threads that complete socket operations.
/// Kestrel's half is an option of the server; the runtime's half is an environment variable that only <c>holdfast run</c>
/// sets, and its visible mark is one socket event thread per processor (".NET Sockets") instead of one in all.
/// </summary>
public sealed partial class InlineIoTests : IDisposable
{
    private const string EventThreadName = ".NET Sockets";
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    private readonly TempDirectory _dir = new("holdfast-inline-io");

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void Inline_io_is_on_unless_the_settings_turn_it_off()
    {
        Assert.True(Options(null).InlineIo);
        Assert.False(Options("false").InlineIo);
        Assert.True(Options("True").InlineIo);

        var refused = Assert.Throws<FormatException>(() => Options("sometimes"));
        Assert.Contains("Amqp:InlineIo", refused.Message, StringComparison.Ordinal);
    }

    [LinuxMultiCoreFact]
    public async Task Holdfast_run_completes_socket_operations_on_one_event_thread_per_processor_and_confirms_on_them()
    {
        await using var holdfast = Start("default", new Dictionary<string, string>());
        int port = await ReadyPortAsync(holdfast);

        await PublishConfirmAndGetAsync(port);
        Assert.Equal(Environment.ProcessorCount, EventThreads(holdfast.Id));
        await StopAsync(holdfast);
    }

    [LinuxMultiCoreFact]
    public async Task With_inline_io_off_or_the_operators_own_variable_the_runtime_keeps_its_single_event_thread()
    {
        await using (var off = Start("off", new Dictionary<string, string> { ["HOLDFAST_AMQP__INLINEIO"] = "false" }))
        {
            int port = await ReadyPortAsync(off);
            await PublishConfirmAndGetAsync(port);
            Assert.Equal(DefaultEventThreads, EventThreads(off.Id));
            await StopAsync(off);
        }

        await using var operatorSaysNo = Start("operator", new Dictionary<string, string> { [InlineSocketCompletions.EnvironmentVariable] = "0" });
        await ReadyPortAsync(operatorSaysNo);
        Assert.Equal(DefaultEventThreads, EventThreads(operatorSaysNo.Id));
        await StopAsync(operatorSaysNo);
    }

    /// <summary>The runtime's own count, as it documents it: one event thread per 30 processors (8 on Arm), at least one.</summary>
    private static int DefaultEventThreads =>
        Math.Max(1, (int)Math.Round(Environment.ProcessorCount / (RuntimeInformation.ProcessArchitecture is Architecture.Arm64 or Architecture.Arm ? 8.0 : 30.0)));

    private static HoldfastServerOptions Options(string? inlineIo)
    {
        var settings = new Dictionary<string, string?>();
        if (inlineIo is not null)
        {
            settings["Amqp:InlineIo"] = inlineIo;
        }

        return HoldfastConfiguration.ToServerOptions(HoldfastConfiguration.Build(null, settings));
    }

    private DotnetProcess Start(string name, Dictionary<string, string> environment) =>
        DotnetProcess.Start("holdfast.dll", environment, "run", "--data-dir", Path.Combine(_dir.Path, name), "--amqp-port", "0");

    private static async Task<int> ReadyPortAsync(DotnetProcess holdfast)
    {
        using var timeout = new CancellationTokenSource(Timeout);
        var ready = await holdfast.ReadUntilAsync(l => l.StartsWith("holdfast: ready", StringComparison.Ordinal), timeout.Token);
        var match = ReadyLine().Match(ready);
        Assert.True(match.Success, ready);
        return IPEndPoint.Parse(match.Groups["plain"].Value).Port;
    }

    private static async Task StopAsync(DotnetProcess holdfast)
    {
        using var timeout = new CancellationTokenSource(Timeout);
        await holdfast.SignalAsync("TERM");
        Assert.Equal(0, await holdfast.WaitForExitAsync(timeout.Token));
    }

    /// <summary>A persistent message to a durable queue, confirmed (so it went through the log's group commit) and read back.</summary>
    private static async Task PublishConfirmAndGetAsync(int port)
    {
        using var timeout = new CancellationTokenSource(Timeout);
        await using var connection = await LoopbackClient.Factory(port, TimeSpan.FromSeconds(5)).CreateConnectionAsync(timeout.Token);
        await using var channel = await connection.CreateChannelAsync(new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true), timeout.Token);
        await channel.QueueDeclareAsync("inline-io", durable: true, exclusive: false, autoDelete: false, cancellationToken: timeout.Token);
        var body = Encoding.UTF8.GetBytes("confirmed on an event thread");
        await channel.BasicPublishAsync("", "inline-io", mandatory: true, new BasicProperties { Persistent = true }, body, timeout.Token);

        var got = await channel.BasicGetAsync("inline-io", autoAck: true, timeout.Token);
        Assert.NotNull(got);
        Assert.Equal(body, got.Body.ToArray());
    }

    private static int EventThreads(int pid) =>
        Directory.GetDirectories($"/proc/{pid}/task").Count(task => File.ReadAllText(Path.Combine(task, "comm")).TrimEnd('\n') == EventThreadName);

    [GeneratedRegex(@"^holdfast: ready: AMQP on (?<plain>[^;\s]+);", RegexOptions.CultureInvariant)]
    private static partial Regex ReadyLine();

    /// <summary>Runs only where the two event-thread counts differ (one per processor, and the runtime's default), on Linux for /proc.</summary>
    [AttributeUsage(AttributeTargets.Method)]
    private sealed class LinuxMultiCoreFactAttribute : FactAttribute
    {
        public LinuxMultiCoreFactAttribute()
        {
            if (!OperatingSystem.IsLinux() || Environment.ProcessorCount == DefaultEventThreads)
            {
                Skip = "Counts the runtime's socket event threads in /proc; on this machine inline and default counts are the same.";
            }
        }
    }
}
