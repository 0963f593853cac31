using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using Holdfast.Broker.Definitions;
using Holdfast.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;

namespace Holdfast;

/// <summary>
/// <c>holdfast run</c>: opens and recovers the store, imports a RabbitMQ definitions file when given one
/// (<c>--definitions</c>), reports what it found, opens the AMQP listener,
/// and serves until Ctrl+C or SIGTERM; then stops accepting, closes connections with 320
/// CONNECTION_FORCED and closes the store cleanly (flush, checkpoint) so the next start is quick.
/// </summary>
internal static class RunCommand
{
    public static Command Create()
    {
        var dataDir = new Option<string>("--data-dir") { Description = "Directory holding the store.", DefaultValueFactory = _ => "data" };
        var flush = new Option<string>("--flush") { Description = "Flush policy: sync (fsync before confirm, the default), interval or async.", DefaultValueFactory = _ => "sync" };
        var amqpPort = new Option<int>("--amqp-port") { Description = "TCP port of the AMQP 0-9-1 listener (0 picks a free one).", DefaultValueFactory = _ => 5672 };
        var amqpsPort = new Option<int>("--amqps-port") { Description = "TCP port of the AMQPS (AMQP over TLS) listener (0 picks a free one); none unless given. Needs --tls-cert." };
        var tlsCert = new Option<string>("--tls-cert") { Description = "PEM file with the server certificate (then any intermediates, and the private key unless --tls-key is given)." };
        var tlsKey = new Option<string>("--tls-key") { Description = "PEM file with the certificate's private key (unencrypted)." };
        var bind = new Option<string>("--bind") { Description = "Address the listeners bind to.", DefaultValueFactory = _ => "127.0.0.1" };
        var definitions = new Option<string>("--definitions") { Description = "RabbitMQ definitions file (rabbitmqctl export_definitions) to import at start: vhosts, users, permissions, policies, exchanges, queues, bindings. Idempotent; an entity that exists with other properties stops the start." };
        var config = new Option<string?>("--config") { Description = $"JSON settings file (default: {HoldfastConfiguration.DefaultFileName} in the working directory, if present). Environment variables HOLDFAST_* override it; command-line options override both." };
        var command = new Command("run", "Open the store, recover it, and serve until stopped.") { dataDir, flush, amqpPort, amqpsPort, tlsCert, tlsKey, bind, definitions, config };
        command.SetAction(async (parse, cancellation) =>
        {
            // Only options actually typed override the file and the environment; their defaults do not.
            var overrides = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
            AddIfGiven(parse, dataDir, "DataDir", overrides);
            AddIfGiven(parse, flush, "Flush", overrides);
            AddIfGiven(parse, amqpPort, "Amqp:Port", overrides);
            AddIfGiven(parse, amqpsPort, "Amqps:Port", overrides);
            AddIfGiven(parse, tlsCert, "Tls:CertFile", overrides);
            AddIfGiven(parse, tlsKey, "Tls:KeyFile", overrides);
            AddIfGiven(parse, bind, "Amqp:Bind", overrides);
            AddIfGiven(parse, definitions, "Definitions", overrides);
            var configuration = HoldfastConfiguration.Build(parse.GetValue(config), overrides);
            return await RunAsync(configuration, cancellation).ConfigureAwait(false);
        });
        return command;
    }

    private static void AddIfGiven<T>(ParseResult parse, Option<T> option, string key, Dictionary<string, string?> overrides)
    {
        if (parse.GetResult(option) is { Implicit: false })
        {
            overrides[key] = Convert.ToString(parse.GetValue(option), CultureInfo.InvariantCulture);
        }
    }

    private static async Task<int> RunAsync(IConfigurationRoot configuration, CancellationToken cancellation)
    {
        var options = HoldfastConfiguration.ToServerOptions(configuration);
        using var loggerFactory = LoggerFactory.Create(logging => logging
            .SetMinimumLevel(LogLevel.Information)
            .AddFilter("Microsoft", LogLevel.Warning)
            .AddConfiguration(configuration.GetSection("Logging"))
            .AddSimpleConsole(console =>
            {
                console.SingleLine = true;
                console.TimestampFormat = "yyyy-MM-dd'T'HH:mm:ss.fff ";
                console.UseUtcTimestamp = true;
            }));

        var output = Console.Out;
        await output.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"holdfast: opening store in {Path.GetFullPath(options.Store.Directory)} (flush policy {options.Store.DefaultFlushPolicy})")).ConfigureAwait(false);
        if (options.InlineIo)
        {
            InlineSocketCompletions.EnableUnlessSet();
        }

        HoldfastServer server;
        try
        {
            server = await HoldfastServer.StartAsync(options, loggerFactory, cancellation).ConfigureAwait(false);
        }
        catch (DefinitionsException ex)
        {
            // The operator's file, not a fault of the broker: its message names the entity, and a stack trace would bury it.
            await Console.Error.WriteLineAsync("holdfast: not started: " + ex.Message).ConfigureAwait(false);
            return 1;
        }

        await using var running = server;
        var store = server.Store;
        await output.WriteLineAsync("holdfast: " + store.Recovery).ConfigureAwait(false);
        foreach (var corrupt in store.Recovery.CorruptRecords)
        {
            await output.WriteLineAsync("holdfast: corrupt: " + corrupt).ConfigureAwait(false);
        }

        foreach (var warning in store.Recovery.Warnings)
        {
            await output.WriteLineAsync("holdfast: warning: " + warning).ConfigureAwait(false);
        }

        if (server.Definitions is { } imported)
        {
            await output.WriteLineAsync("holdfast: " + imported).ConfigureAwait(false);
            foreach (var skipped in imported.Skipped)
            {
                await output.WriteLineAsync("holdfast: definitions: skipped " + skipped).ConfigureAwait(false);
            }
        }

        if (options.AmqpsPort is null && options.TlsCertFile is not null)
        {
            await output.WriteLineAsync("holdfast: warning: a TLS certificate is configured but no AMQPS port (--amqps-port, Amqps:Port): no TLS listener.").ConfigureAwait(false);
        }
        else if (server.Tls is { } tls && tls.Certificate.NotAfter < DateTime.Now)
        {
            await output.WriteLineAsync($"holdfast: warning: the TLS certificate in {tls.CertFile} has expired ({tls}).").ConfigureAwait(false);
        }

        // One line, "AMQP on <endpoint>;" first: scripts and tests read the port from it.
        string tlsListener = server.AmqpsEndPoint is { } amqps ? string.Create(CultureInfo.InvariantCulture, $" AMQPS (TLS) on {amqps} ({server.Tls});") : "";
        await output.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"holdfast: ready: AMQP on {server.AmqpEndPoint};{tlsListener} press Ctrl+C to stop.")).ConfigureAwait(false);
        try
        {
            await Task.Delay(Timeout.Infinite, cancellation).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            await output.WriteLineAsync("holdfast: stopping: flushing and checkpointing.").ConfigureAwait(false);
        }

        await server.StopAsync().ConfigureAwait(false);
        return 0;
    }
}
