namespace Holdfast.Broker.Alarms;

/// <summary>
/// When publishers are blocked: RabbitMQ's two resource alarms. Defaults follow RabbitMQ 3.13: the
/// memory high-water mark is 40 % of the memory the runtime may use, and the disk alarm fires below 50 MB free.
/// </summary>
public sealed record ResourceLimits
{
    /// <summary>Process memory above which publishers are blocked; 0 means <see cref="MemoryHighWatermarkFraction"/> of the available memory.</summary>
    public long MemoryHighWatermarkBytes { get; init; }

    public double MemoryHighWatermarkFraction { get; init; } = 0.4;

    /// <summary>Free space on the data directory's disk below which publishers are blocked.</summary>
    public long DiskFreeLimitBytes { get; init; } = 50_000_000;

    public TimeSpan CheckInterval { get; init; } = TimeSpan.FromSeconds(1);
}
