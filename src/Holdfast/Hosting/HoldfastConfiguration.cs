using System.Globalization;
using System.Net;
using Holdfast.Amqp.Connection;
using Holdfast.Broker.Alarms;
using Holdfast.Storage;
using Microsoft.Extensions.Configuration;

namespace Holdfast.Hosting;

/// <summary>
/// Settings from, in rising precedence: embedded defaults, a JSON file (<c>--config FILE</c>, or
/// <c>holdfast.json</c> in the working directory when present), environment variables prefixed
/// <c>HOLDFAST_</c> (<c>HOLDFAST_AMQP__PORT=5673</c>), then options given on the command line.
/// </summary>
/// <remarks>
/// Keys (all listed with defaults in docs/configuration.md): <c>DataDir</c>, <c>Flush</c> (sync | interval | async),
/// <c>Storage:SegmentSizeBytes</c> (1 GiB), <c>Storage:SpareSegmentFiles</c> (2),
/// <c>Storage:PageCacheLogBytes</c> (256 MiB, or <c>off</c>), <c>Storage:WriteBehindBytes</c> (4 MiB, or <c>off</c>), <c>Storage:DirectWrites</c> (false), <c>Amqp:Bind</c>, <c>Amqp:Port</c>,
/// <c>Amqp:ChannelMax</c>, <c>Amqp:FrameMax</c> (bytes), <c>Amqp:HeartbeatSeconds</c>, <c>Amqp:InlineIo</c> (true),
/// <c>Amqps:Port</c> (no TLS listener unless set), <c>Tls:CertFile</c> and <c>Tls:KeyFile</c> (PEM; the key may be in
/// the certificate file), <c>ShutdownTimeoutSeconds</c>, <c>Alarms:MemoryHighWatermarkFraction</c> (0.4),
/// <c>Alarms:MemoryHighWatermarkBytes</c> (overrides the fraction), <c>Alarms:DiskFreeLimitBytes</c> (50 MB),
/// <c>Definitions</c> (a RabbitMQ definitions file to import at start; <c>HOLDFAST_DEFINITIONS</c>), and <c>Logging</c> as Microsoft.Extensions.Logging reads it.
/// </remarks>
internal static class HoldfastConfiguration
{
    public const string DefaultFileName = "holdfast.json";

    public static IConfigurationRoot Build(string? configFile, IReadOnlyDictionary<string, string?> commandLine)
    {
        var builder = new ConfigurationBuilder();
        if (configFile is not null)
        {
            builder.AddJsonFile(Path.GetFullPath(configFile), optional: false, reloadOnChange: false);
        }
        else
        {
            builder.AddJsonFile(Path.Combine(Directory.GetCurrentDirectory(), DefaultFileName), optional: true, reloadOnChange: false);
        }

        return builder
            .AddEnvironmentVariables("HOLDFAST_")
            .AddInMemoryCollection(commandLine)
            .Build();
    }

    /// <exception cref="FormatException">A setting that does not parse; the message names it.</exception>
    public static HoldfastServerOptions ToServerOptions(IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var defaults = new AmqpServerOptions();
        return new HoldfastServerOptions
        {
            Store = new StoreOptions
            {
                Directory = configuration["DataDir"] ?? "data",
                DefaultFlushPolicy = FlushPolicy.Parse(configuration["Flush"] ?? "sync", TimeSpan.FromMilliseconds(200), 4L << 20),
                SegmentSizeBytes = Number(configuration, "Storage:SegmentSizeBytes", StoreOptions.DefaultSegmentSizeBytes, 1L << 20, 1L << 40),
                SpareSegmentFiles = (int)Number(configuration, "Storage:SpareSegmentFiles", 2, 0, 64),
                PageCacheLogBytes = configuration["Storage:PageCacheLogBytes"] is "off"
                    ? null
                    : Number(configuration, "Storage:PageCacheLogBytes", StoreOptions.DefaultPageCacheLogBytes, 0, long.MaxValue),
                WriteBehindBytes = configuration["Storage:WriteBehindBytes"] is "off"
                    ? null
                    : Number(configuration, "Storage:WriteBehindBytes", StoreOptions.DefaultWriteBehindBytes, 4096, long.MaxValue),
                DirectWrites = Boolean(configuration, "Storage:DirectWrites", false),
            },
            AmqpBindAddress = ParseAddress(configuration["Amqp:Bind"] ?? "127.0.0.1"),
            AmqpPort = (int)Number(configuration, "Amqp:Port", 5672, 0, ushort.MaxValue),
            AmqpsPort = string.IsNullOrWhiteSpace(configuration["Amqps:Port"]) ? null : (int)Number(configuration, "Amqps:Port", 0, 0, ushort.MaxValue),
            TlsCertFile = NullIfBlank(configuration["Tls:CertFile"]),
            TlsKeyFile = NullIfBlank(configuration["Tls:KeyFile"]),
            DefinitionsFile = NullIfBlank(configuration["Definitions"]),
            Amqp = defaults with
            {
                ChannelMax = (ushort)Number(configuration, "Amqp:ChannelMax", defaults.ChannelMax, 0, ushort.MaxValue),
                FrameMaxBytes = (uint)Number(configuration, "Amqp:FrameMax", defaults.FrameMaxBytes, 4096, int.MaxValue),
                Heartbeat = TimeSpan.FromSeconds(Number(configuration, "Amqp:HeartbeatSeconds", (long)defaults.Heartbeat.TotalSeconds, 0, ushort.MaxValue)),
            },
            InlineIo = Boolean(configuration, "Amqp:InlineIo", true),
            ShutdownTimeout = TimeSpan.FromSeconds(Number(configuration, "ShutdownTimeoutSeconds", 5, 1, 3600)),
            Limits = new ResourceLimits
            {
                MemoryHighWatermarkBytes = Number(configuration, "Alarms:MemoryHighWatermarkBytes", 0, 0, long.MaxValue),
                MemoryHighWatermarkFraction = Fraction(configuration, "Alarms:MemoryHighWatermarkFraction", 0.4),
                DiskFreeLimitBytes = Number(configuration, "Alarms:DiskFreeLimitBytes", 50_000_000, 0, long.MaxValue),
            },
        };
    }

    private static IPAddress ParseAddress(string text) => text switch
    {
        "*" or "0.0.0.0" => IPAddress.Any,
        "::" => IPAddress.IPv6Any,
        "localhost" => IPAddress.Loopback,
        _ => IPAddress.TryParse(text, out var address) ? address : throw new FormatException($"Amqp:Bind '{text}' is not an IP address."),
    };

    private static string? NullIfBlank(string? text) => string.IsNullOrWhiteSpace(text) ? null : text;

    private static double Fraction(IConfiguration configuration, string key, double fallback)
    {
        string? text = configuration[key];
        if (text is null)
        {
            return fallback;
        }

        if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double value) || value <= 0 || value > 1)
        {
            throw new FormatException($"{key} '{text}' is not a fraction above 0 and at most 1.");
        }

        return value;
    }

    private static bool Boolean(IConfiguration configuration, string key, bool fallback)
    {
        string? text = configuration[key];
        if (text is null)
        {
            return fallback;
        }

        return bool.TryParse(text, out bool value) ? value : throw new FormatException($"{key} '{text}' is not true or false.");
    }

    private static long Number(IConfiguration configuration, string key, long fallback, long min, long max)
    {
        string? text = configuration[key];
        if (text is null)
        {
            return fallback;
        }

        if (!long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out long value) || value < min || value > max)
        {
            throw new FormatException($"{key} '{text}' is not a whole number from {min} to {max}.");
        }

        return value;
    }
}
