using System.Globalization;

namespace Holdfast.Storage.Tests.Model;

/// <summary>Counts of what the model runs made the engine do, so a run that never reaches a path shows it.</summary>
internal sealed class ModelCoverage
{
    public long Checkpoints { get; private set; }

    public long SegmentsDeleted { get; private set; }

    public long RecordsRelocated { get; private set; }

    public long SegmentsReused { get; private set; }

    public long FailedStores { get; private set; }

    public long OverlappedFsyncs { get; private set; }

    /// <summary>Recoveries that reported a damaged region after a failed log fsync.</summary>
    public long HolesAfterFailedFsync { get; set; }

    public long TornRecoveries { get; private set; }

    public long BytesTruncated { get; private set; }

    public long IndexEntriesRebuilt { get; private set; }

    public long CheckpointFallbacks { get; private set; }

    public long CallsRefusedForSpace { get; set; }

    /// <summary>Queues a reopened store no longer held because their delete reached the disk.</summary>
    public long QueuesDeletedAcrossCrash { get; set; }

    /// <summary>Index or checkpoint file fsyncs held for some steps while the model went on calling the store.</summary>
    public long CheckpointWritesHeld { get; set; }

    public void Add(StoreStatistics statistics)
    {
        Checkpoints += statistics.Checkpoints;
        SegmentsDeleted += statistics.SegmentsDeleted;
        RecordsRelocated += statistics.RecordsRelocated;
        SegmentsReused += statistics.SegmentsReused;
        FailedStores += statistics.Failed ? 1 : 0;
        OverlappedFsyncs += statistics.OverlappedFsyncs;
    }

    public void Add(RecoveryReport recovery)
    {
        TornRecoveries += recovery.BytesTruncated > 0 ? 1 : 0;
        BytesTruncated += recovery.BytesTruncated;
        IndexEntriesRebuilt += recovery.IndexEntriesRebuilt;
        CheckpointFallbacks += recovery.Warnings.Any(w => w.StartsWith("checkpoint.", StringComparison.Ordinal)) ? 1 : 0;
    }

    public void Add(ModelCoverage other)
    {
        Checkpoints += other.Checkpoints;
        SegmentsDeleted += other.SegmentsDeleted;
        RecordsRelocated += other.RecordsRelocated;
        SegmentsReused += other.SegmentsReused;
        FailedStores += other.FailedStores;
        OverlappedFsyncs += other.OverlappedFsyncs;
        HolesAfterFailedFsync += other.HolesAfterFailedFsync;
        TornRecoveries += other.TornRecoveries;
        BytesTruncated += other.BytesTruncated;
        IndexEntriesRebuilt += other.IndexEntriesRebuilt;
        CheckpointFallbacks += other.CheckpointFallbacks;
        CallsRefusedForSpace += other.CallsRefusedForSpace;
        CheckpointWritesHeld += other.CheckpointWritesHeld;
        QueuesDeletedAcrossCrash += other.QueuesDeletedAcrossCrash;
    }

    public override string ToString() => string.Create(
        CultureInfo.InvariantCulture,
        $"checkpoints {Checkpoints}, segments deleted {SegmentsDeleted}, segments reused {SegmentsReused}, records relocated {RecordsRelocated}, stores failed by fsync {FailedStores}, fsyncs overlapping a write {OverlappedFsyncs}, damaged regions after a failed fsync {HolesAfterFailedFsync}, " +
        $"recoveries truncating a torn tail {TornRecoveries} ({BytesTruncated} bytes), index entries rebuilt {IndexEntriesRebuilt}, checkpoint fallbacks {CheckpointFallbacks}, " +
        $"calls refused for a full disk {CallsRefusedForSpace}, checkpoint writes held while calls went on {CheckpointWritesHeld}, queues gone after their delete {QueuesDeletedAcrossCrash}");
}
