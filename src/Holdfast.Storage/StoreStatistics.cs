namespace Holdfast.Storage;

/// <summary>A snapshot of the store's counters, for metrics and tests.</summary>
public sealed record StoreStatistics
{
    /// <summary>Position just past the last record appended (written or not).</summary>
    public long LogEnd { get; init; }

    /// <summary>Position just past the last record written to the operating system.</summary>
    public long WrittenEnd { get; init; }

    /// <summary>Position just past the last record on stable storage.</summary>
    public long SyncedEnd { get; init; }

    public long Fsyncs { get; init; }

    /// <summary>Fsyncs of the log made by the syncer thread while the writer went on writing the next batch.</summary>
    public long OverlappedFsyncs { get; init; }

    public int Segments { get; init; }

    /// <summary>Bytes held in segment files (their written length, not the space reserved ahead).</summary>
    public long SegmentBytes { get; init; }

    public long Checkpoints { get; init; }

    public long LastCheckpointPosition { get; init; }

    public long CorruptRecordsSkipped { get; init; }

    /// <summary>Dead segments reclaimed: deleted, or kept as spare files for reuse.</summary>
    public long SegmentsDeleted { get; init; }

    /// <summary>Dead segment files held for reuse right now (<see cref="StoreOptions.SpareSegmentFiles"/>).</summary>
    public int SpareSegmentFiles { get; init; }

    /// <summary>New segments that reused a spare file instead of allocating one.</summary>
    public long SegmentsReused { get; init; }

    public long RecordsRelocated { get; init; }

    /// <summary>
    /// Dead files (segments, old checkpoints) a deletion could not remove. They stay on disk unreferenced, costing
    /// space until a restart finds them dead again; a count that grows means the disk is refusing deletions.
    /// </summary>
    public long FileDeletionFailures { get; init; }

    public bool Failed { get; init; }
}
