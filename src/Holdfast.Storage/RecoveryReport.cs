namespace Holdfast.Storage;

/// <summary>What opening the store found on disk.</summary>
public sealed record RecoveryReport
{
    /// <summary>Generation of the checkpoint recovery started from, or null when none was usable.</summary>
    public long? CheckpointGeneration { get; init; }

    /// <summary>Log position replay started at.</summary>
    public long ReplayedFrom { get; init; }

    /// <summary>Log position just past the last valid record: where appends continue.</summary>
    public long LogEnd { get; init; }

    public int Segments { get; init; }

    /// <summary>Records read back from the log after the checkpoint, each with its CRC verified.</summary>
    public long RecordsRecovered { get; init; }

    /// <summary>Bytes cut from the end of the last segment: a write torn by a crash.</summary>
    public long BytesTruncated { get; init; }

    public IReadOnlyList<CorruptionReport> CorruptRecords { get; init; } = [];

    /// <summary>Queue index entries rebuilt from the log because the index file was behind it or damaged.</summary>
    public long IndexEntriesRebuilt { get; init; }

    /// <summary>Messages that no intact record could be found for: reported, never delivered.</summary>
    public long MessagesLost { get; init; }

    public int Queues { get; init; }

    public long Messages { get; init; }

    public TimeSpan Duration { get; init; }

    public IReadOnlyList<string> Warnings { get; init; } = [];

    public override string ToString()
    {
        var checkpoint = CheckpointGeneration is { } g ? $"checkpoint {g}" : "no checkpoint";
        return $"recovered {Queues} queues with {Messages} messages in {Duration.TotalMilliseconds:F0} ms: {checkpoint}, " +
               $"replayed {RecordsRecovered} records from position {ReplayedFrom} to {LogEnd} in {Segments} segments, " +
               $"{BytesTruncated} torn bytes truncated, {CorruptRecords.Count} corrupt regions skipped, " +
               $"{IndexEntriesRebuilt} index entries rebuilt, {MessagesLost} messages lost";
    }
}
