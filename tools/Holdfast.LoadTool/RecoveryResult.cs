namespace Holdfast.LoadTool;

/// <summary>The JSON lines the <c>recovery</c> verb prints (snake_case on the wire).</summary>
internal sealed record RecoveryResult
{
    /// <summary><c>recovery-build</c>, <c>recovery-replay</c> (no checkpoint) or <c>recovery-checkpoint</c>.</summary>
    public required string Scenario { get; init; }

    public required long Records { get; init; }

    public required int Size { get; init; }

    public required long LogBytes { get; init; }

    public required int Segments { get; init; }

    /// <summary>Wall time of the step: building the log, or the whole of <c>MessageStore.OpenAsync</c>.</summary>
    public required double Ms { get; init; }

    /// <summary>The engine's own recovery time (<c>RecoveryReport.Duration</c>): before the post-replay checkpoint OpenAsync takes.</summary>
    public double? RecoveryMs { get; init; }

    public long? RecordsReplayed { get; init; }

    public long? MessagesLoaded { get; init; }

    /// <summary>True when the page cache was dropped before the step, so the files came from the disk.</summary>
    public required bool ColdCache { get; init; }

    public required string Directory { get; init; }

    /// <summary>The host's 1-minute load average when the step ended (null off Linux): other work on the machine skews the figures.</summary>
    public double? HostLoadAverage { get; init; } = HostLoad.OneMinute();
}
