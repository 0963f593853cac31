namespace Holdfast.Broker.Topology;

/// <summary>The queue arguments RabbitMQ compares on redeclare; others are accepted and kept but not compared, as RabbitMQ does.</summary>
internal static class QueueArguments
{
    public static IReadOnlySet<string> Compared { get; } = new HashSet<string>(StringComparer.Ordinal)
    {
        "x-expires",
        "x-message-ttl",
        "x-dead-letter-exchange",
        "x-dead-letter-routing-key",
        "x-dead-letter-strategy",
        "x-max-length",
        "x-max-length-bytes",
        "x-max-in-memory-length",
        "x-max-in-memory-bytes",
        "x-max-priority",
        "x-overflow",
        "x-queue-mode",
        "x-queue-type",
        "x-single-active-consumer",
        "x-delivery-limit",
        "x-retry-delays",
    };

    /// <summary>The first compared argument whose value differs, or null.</summary>
    public static string? FirstDifference(IReadOnlyDictionary<string, object?> received, IReadOnlyDictionary<string, object?> current)
    {
        foreach (var name in Compared)
        {
            var has = received.TryGetValue(name, out var a);
            var had = current.TryGetValue(name, out var b);
            if (has != had || (has && !TopologyArguments.ValuesEqual(a, b)))
            {
                return name;
            }
        }

        return null;
    }
}
