using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.RegularExpressions;
using Holdfast.Hosting;
using Holdfast.Testing;
using RabbitMQ.Client;

namespace Holdfast.Conformance.Tests.Tls;

/// <summary>
/// How an operator turns the TLS listener on: <c>--amqps-port</c>, <c>--tls-cert</c> and <c>--tls-key</c> on the
/// command line, the keys <c>Amqps:Port</c>, <c>Tls:CertFile</c> and <c>Tls:KeyFile</c> in the settings file, or
/// <c>HOLDFAST_AMQPS__PORT</c>, <c>HOLDFAST_TLS__CERTFILE</c> and <c>HOLDFAST_TLS__KEYFILE</c> in the environment.
/// </summary>
public sealed partial class TlsConfigurationTests : IDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    private readonly TempDirectory _dir = new("holdfast-tls-config");

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task The_settings_file_sets_the_tls_listener_and_the_command_line_overrides_it()
    {
        string file = Path.Combine(_dir.Path, "holdfast.json");
        await File.WriteAllTextAsync(file, """{ "Amqps": { "Port": 5671 }, "Tls": { "CertFile": "server.pem", "KeyFile": "server.key" } }""");

        var fromFile = HoldfastConfiguration.ToServerOptions(HoldfastConfiguration.Build(file, new Dictionary<string, string?>()));
        Assert.Equal(5671, fromFile.AmqpsPort);
        Assert.Equal("server.pem", fromFile.TlsCertFile);
        Assert.Equal("server.key", fromFile.TlsKeyFile);

        var overridden = HoldfastConfiguration.ToServerOptions(HoldfastConfiguration.Build(file, new Dictionary<string, string?>
        {
            ["Amqps:Port"] = "0",
            ["Tls:CertFile"] = "other.pem",
        }));
        Assert.Equal(0, overridden.AmqpsPort);
        Assert.Equal("other.pem", overridden.TlsCertFile);
        Assert.Equal("server.key", overridden.TlsKeyFile);
    }

    [Fact]
    public async Task Without_an_amqps_port_there_is_no_tls_listener_even_with_a_certificate()
    {
        string file = Path.Combine(_dir.Path, "holdfast.json");
        await File.WriteAllTextAsync(file, """{ "Tls": { "CertFile": "server.pem" } }""");
        var options = HoldfastConfiguration.ToServerOptions(HoldfastConfiguration.Build(file, new Dictionary<string, string?>()));
        Assert.Null(options.AmqpsPort);
        Assert.Null(TlsCertificate.LoadFor(options));
    }

    [Theory]
    [InlineData("tls")]
    [InlineData("65536")]
    [InlineData("-1")]
    public void An_amqps_port_that_does_not_parse_is_refused_by_name(string port)
    {
        var configuration = HoldfastConfiguration.Build(configFile: null, new Dictionary<string, string?> { ["Amqps:Port"] = port });
        var failure = Assert.Throws<FormatException>(() => HoldfastConfiguration.ToServerOptions(configuration));
        Assert.Contains("Amqps:Port", failure.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Run_with_tls_options_serves_amqps_and_names_its_endpoint_in_the_ready_line()
    {
        using var certificate = TestCertificate.CreateRsa(_dir.Path);
        using var timeout = new CancellationTokenSource(Timeout);
        await using var holdfast = DotnetProcess.Start(
            "holdfast.dll", "run", "--data-dir", Path.Combine(_dir.Path, "data"), "--amqp-port", "0",
            "--amqps-port", "0", "--tls-cert", certificate.CertFile, "--tls-key", certificate.KeyFile);
        var ready = await holdfast.ReadUntilAsync(l => l.StartsWith("holdfast: ready", StringComparison.Ordinal), timeout.Token);
        var match = ReadyLine().Match(ready);
        Assert.True(match.Success, ready);
        Assert.Contains("CN=localhost", ready, StringComparison.Ordinal);
        Assert.NotEqual(match.Groups["plain"].Value, match.Groups["tls"].Value);

        var factory = TlsBroker.TlsFactory(IPEndPoint.Parse(match.Groups["tls"].Value).Port, certificate);
        await using (var connection = await factory.CreateConnectionAsync())
        {
            await using var channel = await connection.CreateChannelAsync(new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true));
            await channel.QueueDeclareAsync("cli", durable: true, exclusive: false, autoDelete: false);
            await channel.BasicPublishAsync(string.Empty, "cli", mandatory: true, new BasicProperties { Persistent = true }, "via run"u8.ToArray()).AsTask().WaitAsync(timeout.Token);
            var got = await channel.BasicGetAsync("cli", autoAck: true);
            Assert.Equal("via run", Encoding.UTF8.GetString(got!.Body.Span));
        }

        await holdfast.SignalAsync("TERM");
        Assert.Equal(0, await holdfast.WaitForExitAsync(timeout.Token));
    }

    [Fact]
    public async Task Run_with_a_missing_certificate_exits_with_an_error_naming_the_file()
    {
        string missing = Path.Combine(_dir.Path, "missing.pem");
        using var timeout = new CancellationTokenSource(Timeout);
        await using var holdfast = DotnetProcess.Start(
            "holdfast.dll", "run", "--data-dir", Path.Combine(_dir.Path, "data"), "--amqp-port", "0", "--amqps-port", "0", "--tls-cert", missing);
        int exitCode = await holdfast.WaitForExitAsync(timeout.Token);
        Assert.NotEqual(0, exitCode);
        Assert.Contains($"TLS certificate file '{missing}'", holdfast.StandardError, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Holdfast_environment_variables_turn_the_tls_listener_on()
    {
        using var certificate = TestCertificate.CreateEcdsa(_dir.Path);
        var start = new ProcessStartInfo(DotnetHost())
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            WorkingDirectory = _dir.Path,
            ArgumentList = { Path.Combine(AppContext.BaseDirectory, "holdfast.dll"), "run", "--data-dir", Path.Combine(_dir.Path, "data"), "--amqp-port", "0" },
        };
        start.Environment["HOLDFAST_AMQPS__PORT"] = "0";
        start.Environment["HOLDFAST_TLS__CERTFILE"] = certificate.CombinedFile;
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";

        using var timeout = new CancellationTokenSource(Timeout);
        using var process = Process.Start(start) ?? throw new InvalidOperationException("dotnet did not start.");
        var stderr = process.StandardError.ReadToEndAsync(timeout.Token);
        try
        {
            var seen = new StringBuilder();
            Match match;
            while (true)
            {
                string? line = await process.StandardOutput.ReadLineAsync(timeout.Token);
                if (line is null)
                {
                    Assert.Fail($"holdfast exited before it was ready.\nstdout:\n{seen}\nstderr:\n{await stderr}");
                }

                seen.AppendLine(line);
                match = ReadyLine().Match(line);
                if (match.Success)
                {
                    break;
                }
            }

            var factory = TlsBroker.TlsFactory(IPEndPoint.Parse(match.Groups["tls"].Value).Port, certificate);
            await using var connection = await factory.CreateConnectionAsync();
            Assert.True(connection.IsOpen);
        }
        finally
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync(CancellationToken.None);
        }
    }

    [GeneratedRegex(@"^holdfast: ready: AMQP on (?<plain>\S+); AMQPS \(TLS\) on (?<tls>\S+) \(", RegexOptions.CultureInvariant)]
    private static partial Regex ReadyLine();

    private static string DotnetHost()
    {
        if (Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host && File.Exists(host))
        {
            return host;
        }

        var current = Environment.ProcessPath;
        return current is not null && Path.GetFileNameWithoutExtension(current) == "dotnet" ? current : "dotnet";
    }
}
