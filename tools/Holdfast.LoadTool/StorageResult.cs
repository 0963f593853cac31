namespace Holdfast.LoadTool;

/// <summary>The JSON line the <c>storage</c> verb prints (snake_case on the wire).</summary>
internal sealed record StorageResult
{
    public required string Scenario { get; init; }

    public required string Policy { get; init; }

    public required int Writers { get; init; }

    public required int InFlight { get; init; }

    public required int Size { get; init; }

    public required double Seconds { get; init; }

    public required long Records { get; init; }

    public required double RecordsPerS { get; init; }

    /// <summary>Payload bytes appended per second.</summary>
    public required double MibPerS { get; init; }

    /// <summary>Bytes that reached the file per second: records with header, routing and padding.</summary>
    public required double LogMibPerS { get; init; }

    public required long Fsyncs { get; init; }

    public required double FsyncsPerS { get; init; }

    public required double RecordsPerFsync { get; init; }

    public required LatencySummary AppendLatencyUs { get; init; }

    /// <summary>Process CPU time over wall time: 200 means both cores of this machine busy.</summary>
    public required double CpuPercent { get; init; }

    /// <summary>Managed bytes allocated by the whole process during the window, per record.</summary>
    public required double AllocBytesPerRecord { get; init; }

    public required int Gen0Collections { get; init; }

    public required int Gen2Collections { get; init; }

    /// <summary>Times a thread found a monitor held and had to wait for it, per record: how much the appenders and the writer queue on the store's lock.</summary>
    public required double LockContentionsPerRecord { get; init; }

    /// <summary>The call that makes a write durable: the engine and the baseline both use fdatasync on Linux.</summary>
    public required string SyncCall { get; init; }

    public required string Directory { get; init; }

    /// <summary>The host's 1-minute load average when the step ended (null off Linux): other work on the machine skews the figures.</summary>
    public double? HostLoadAverage { get; init; } = HostLoad.OneMinute();
}
