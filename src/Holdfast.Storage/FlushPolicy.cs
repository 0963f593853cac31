namespace Holdfast.Storage;

/// <summary>
/// The point an append must reach before its task completes.
/// <list type="bullet">
/// <item><see cref="Sync"/>: on stable storage (fsync). Concurrent appends share one fsync (group commit).</item>
/// <item><see cref="Interval(TimeSpan, long)"/>: written to the operating system; the store fsyncs at least every
/// <c>period</c> or every <c>bytes</c>, whichever comes first, which bounds what a power loss can take.</item>
/// <item><see cref="Async"/>: written to the operating system; fsync happens only at checkpoints, segment rolls and close.</item>
/// </list>
/// A process crash loses nothing written to the operating system; only a machine crash can lose
/// the unsynced tail that <see cref="Interval(TimeSpan, long)"/> and <see cref="Async"/> permit.
/// </summary>
public sealed record FlushPolicy
{
    private FlushPolicy(FlushKind kind, TimeSpan period, long bytes)
    {
        Kind = kind;
        Period = period;
        Bytes = bytes;
    }

    public FlushKind Kind { get; }

    /// <summary>For <see cref="FlushKind.Interval"/>: the longest time written data stays unsynced.</summary>
    public TimeSpan Period { get; }

    /// <summary>For <see cref="FlushKind.Interval"/>: the most bytes that stay unsynced.</summary>
    public long Bytes { get; }

    public static FlushPolicy Sync { get; } = new(FlushKind.Sync, TimeSpan.Zero, 0);

    public static FlushPolicy Async { get; } = new(FlushKind.Async, TimeSpan.Zero, 0);

    public static FlushPolicy Interval(TimeSpan period, long bytes)
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(period, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(bytes, 0);
        return new FlushPolicy(FlushKind.Interval, period, bytes);
    }

    /// <summary>Parses <c>sync</c>, <c>async</c> or <c>interval</c> (with the given defaults), as used on command lines.</summary>
    public static FlushPolicy Parse(string text, TimeSpan intervalPeriod, long intervalBytes) => text.ToUpperInvariant() switch
    {
        "SYNC" => Sync,
        "ASYNC" => Async,
        "INTERVAL" => Interval(intervalPeriod, intervalBytes),
        _ => throw new FormatException($"Unknown flush policy '{text}': expected sync, interval or async."),
    };

    public override string ToString() => Kind switch
    {
        FlushKind.Interval => $"interval({Period.TotalMilliseconds} ms, {Bytes} bytes)",
        _ => Kind.ToString().ToUpperInvariant(),
    };
}
