using System.Net;
using System.Text.RegularExpressions;
using Holdfast.Conformance.Tests.Support;
using Holdfast.Hosting;
using Holdfast.Testing;
using Microsoft.Extensions.Logging.Abstractions;
using RabbitMQ.Client;

namespace Holdfast.Conformance.Tests.Hosting;

/// <summary>
/// The connection.tune values an operator sets (<c>Amqp:ChannelMax</c>, <c>Amqp:FrameMax</c>, <c>Amqp:HeartbeatSeconds</c>
/// in the settings file, or <c>HOLDFAST_AMQP__*</c> in the environment) are the ones the real client negotiates.
/// </summary>
public sealed partial class TuneConfigurationTests : IDisposable
{
    private const ushort ConfiguredChannelMax = 64;
    private const uint ConfiguredFrameMaxBytes = 16384;
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    private readonly TempDirectory _dir = new("holdfast-tune-config");

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task The_settings_files_channel_max_frame_max_and_heartbeat_are_what_the_client_negotiates()
    {
        string file = Path.Combine(_dir.Path, "holdfast.json");
        await File.WriteAllTextAsync(file, """{ "Amqp": { "ChannelMax": 64, "FrameMax": 16384, "HeartbeatSeconds": 7 } }""");
        var configuration = HoldfastConfiguration.Build(file, new Dictionary<string, string?>
        {
            ["DataDir"] = Path.Combine(_dir.Path, "data"),
            ["Amqp:Port"] = "0",
        });
        await using var server = await HoldfastServer.StartAsync(HoldfastConfiguration.ToServerOptions(configuration), NullLoggerFactory.Instance, CancellationToken.None);

        await using (var accepting = await AcceptingFactory(server.AmqpEndPoint.Port).CreateConnectionAsync())
        {
            Assert.Equal(ConfiguredChannelMax, accepting.ChannelMax);
            Assert.Equal(ConfiguredFrameMaxBytes, accepting.FrameMax);
            Assert.Equal(TimeSpan.FromSeconds(7), accepting.Heartbeat);
        }

        // A client asking for more than the server offers (its defaults: 2047 channels, 60 s heartbeats) gets the server's lower values.
        var asking = AcceptingFactory(server.AmqpEndPoint.Port);
        asking.RequestedChannelMax = 2047;
        asking.RequestedHeartbeat = TimeSpan.FromSeconds(60);
        await using var capped = await asking.CreateConnectionAsync();
        Assert.Equal(ConfiguredChannelMax, capped.ChannelMax);
        Assert.Equal(TimeSpan.FromSeconds(7), capped.Heartbeat);
    }

    [Fact]
    public async Task Holdfast_run_takes_tune_values_from_its_settings_file_and_environment_variables_over_the_file()
    {
        string file = Path.Combine(_dir.Path, "settings.json");
        await File.WriteAllTextAsync(file, """{ "Amqp": { "ChannelMax": 64, "FrameMax": 16384, "HeartbeatSeconds": 30 } }""");
        using var timeout = new CancellationTokenSource(Timeout);
        await using var holdfast = DotnetProcess.Start(
            "holdfast.dll",
            new Dictionary<string, string> { ["HOLDFAST_AMQP__HEARTBEATSECONDS"] = "9" },
            "run", "--config", file, "--data-dir", Path.Combine(_dir.Path, "data"), "--amqp-port", "0");
        var ready = await holdfast.ReadUntilAsync(l => l.StartsWith("holdfast: ready", StringComparison.Ordinal), timeout.Token);
        var match = ReadyLine().Match(ready);
        Assert.True(match.Success, ready);

        await using (var connection = await AcceptingFactory(IPEndPoint.Parse(match.Groups["plain"].Value).Port).CreateConnectionAsync(timeout.Token))
        {
            Assert.Equal(ConfiguredChannelMax, connection.ChannelMax);
            Assert.Equal(ConfiguredFrameMaxBytes, connection.FrameMax);
            Assert.Equal(TimeSpan.FromSeconds(9), connection.Heartbeat);
        }

        await holdfast.SignalAsync("TERM");
        Assert.Equal(0, await holdfast.WaitForExitAsync(timeout.Token));
    }

    /// <summary>A client that asks 0 for every tune value: "no limit of mine", so it takes the server's as they are.</summary>
    private static ConnectionFactory AcceptingFactory(int port)
    {
        var factory = LoopbackClient.Factory(port, TimeSpan.FromSeconds(5));
        factory.RequestedChannelMax = 0;
        factory.RequestedFrameMax = 0;
        factory.RequestedHeartbeat = TimeSpan.Zero;
        return factory;
    }

    [GeneratedRegex(@"^holdfast: ready: AMQP on (?<plain>[^;\s]+);", RegexOptions.CultureInvariant)]
    private static partial Regex ReadyLine();
}
