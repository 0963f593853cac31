using Holdfast.Storage.Devices;

namespace Holdfast.Storage;

public sealed record StoreOptions
{
    public const long DefaultSegmentSizeBytes = 1L << 30;

    public const long DefaultPageCacheLogBytes = 256L * 1024 * 1024;

    public const long DefaultWriteBehindBytes = 4L * 1024 * 1024;

    /// <summary>Where the files live. Defaults to the real file system under <see cref="Directory"/>.</summary>
    public IStorageDevice? Device { get; init; }

    /// <summary>Root directory for the default file-system device.</summary>
    public string Directory { get; init; } = "data";

    /// <summary>A segment is rolled when the next record would not fit. Each new segment reserves this much space up front.</summary>
    public long SegmentSizeBytes { get; init; } = DefaultSegmentSizeBytes;

    /// <summary>
    /// Log writes bypass the page cache (<c>O_DIRECT</c>), on the default file-system device where the file system
    /// allows it (not tmpfs; elsewhere writes stay buffered). The disk then takes the bytes from the writer's own
    /// buffer, and an fsync has only the device's cache to flush: on the benchmark VM a bare writer fsyncing each
    /// MiB ran about three times as fast, the store's own 64 KiB appends 1.05–1.26× with half the p99, and its 1 KiB
    /// appends at three quarters of the CPU (docs/benchmarks.md). Reads still go through the page cache, which no
    /// longer holds what was just written: a message read back from the log (a deep queue's) comes from the disk.
    /// </summary>
    public bool DirectWrites { get; init; }

    /// <summary>
    /// With <see cref="DirectWrites"/>, writes smaller than this go through the page cache all the same: a direct
    /// write waits for the device, and the fsync after it is a second trip, where the fsync of a buffered write
    /// writes and flushes in one (one producer waiting for each confirm was 0.7x direct). Internal: crash tests
    /// lower it so that both kinds of write meet in one run.
    /// </summary>
    internal int DirectWriteMinimumBytes { get; init; } = DirectWriteFile.DefaultDirectWriteMinimumBytes;

    /// <summary>
    /// Dead segment files kept for reuse as new segments instead of being deleted, at most this many
    /// (each up to <see cref="SegmentSizeBytes"/> on disk). A reused file is already allocated and written,
    /// so an fsync into it persists data only, never the file's size or block map; and no file is unlinked,
    /// which on a file system mounted with online discard stalls every fsync behind it. 0 deletes them all.
    /// </summary>
    public int SpareSegmentFiles { get; init; } = 2;

    /// <summary>
    /// Bytes already pending when a batch with sync appends is written, from which the writer leaves
    /// that batch's fsync to the syncer thread and writes the next batch meanwhile (below it, it fsyncs
    /// itself). 0 hands every such fsync to the syncer. Internal: a tuning point for tests, which lower
    /// it to make overlap common.
    /// </summary>
    internal int SyncHandOffBytes { get; init; } = 64 * 1024;

    /// <summary>
    /// Bytes of a new segment the writer zeroes ahead of the log's end before fsyncing a small batch
    /// itself, so that its fsyncs persist data into written blocks and no file system metadata (see
    /// <c>CommitLog.PrepareBlocksAhead</c>). 0 turns it off. Internal: tests that count the bytes past the
    /// data turn it off.
    /// </summary>
    internal int PrepareAheadBytes { get; init; } = 1 << 20;

    /// <summary>
    /// How long records nobody waits for (a consumer's acks, see <see cref="MessageStore.AckUnobserved"/>) wait for
    /// company before the writer takes them on their own; any append somebody waits for takes them at once. A process
    /// crash loses those not yet written (about this much, more when the writer is busy), which costs redeliveries,
    /// never a message. <see cref="TimeSpan.Zero"/> writes
    /// each at once.
    /// </summary>
    public TimeSpan UnobservedLinger { get; init; } = TimeSpan.FromMilliseconds(2);

    /// <summary>Unobserved bytes pending that end the linger early: the batch is worth a write of its own.</summary>
    internal int UnobservedLingerBytes { get; init; } = 64 * 1024;

    /// <summary>
    /// How much of the log, counted back from the last fsync, the store leaves in the operating system's page
    /// cache; older bytes are dropped from it once fsynced (advice to the kernel, <c>posix_fadvise</c>), in steps
    /// of 4 MiB. Records in the window are read back from memory; older ones (a deep queue's, a redelivery's)
    /// from the disk. Recycling the same pages keeps the cache from taking a never-used page for every 4 KiB
    /// written, which on a virtual machine whose host backs memory lazily costs a host fault per page and made
    /// copying into the cache the log writer's bottleneck (docs/benchmarks.md). Null leaves the cache to the kernel.
    /// </summary>
    public long? PageCacheLogBytes
    {
        get => _pageCacheLogBytes;
        init => _pageCacheLogBytes = value is < 0
            ? throw new ArgumentOutOfRangeException(nameof(PageCacheLogBytes), value, "A window behind the last fsync cannot be negative: that would advise dropping bytes not yet on disk.")
            : value;
    }

    private readonly long? _pageCacheLogBytes = DefaultPageCacheLogBytes;

    /// <summary>
    /// How many bytes the log may have written but not fsynced before the store asks the kernel to start
    /// writing them to the disk (<c>sync_file_range</c>, advice that makes nothing durable). Without it the kernel
    /// starts only when gigabytes are dirty, so under <see cref="FlushPolicy.Async"/> or an interval policy the
    /// next fsync had hundreds of megabytes to write and every append waited for it (docs/benchmarks.md). Null
    /// leaves writeback to the kernel.
    /// </summary>
    public long? WriteBehindBytes
    {
        get => _writeBehindBytes;
        init => _writeBehindBytes = value is <= 0
            ? throw new ArgumentOutOfRangeException(nameof(WriteBehindBytes), value, "Write-behind needs a positive step; null turns it off.")
            : value;
    }

    private readonly long? _writeBehindBytes = DefaultWriteBehindBytes;

    /// <summary>Applies to appends that do not name a policy.</summary>
    public FlushPolicy DefaultFlushPolicy { get; init; } = FlushPolicy.Sync;

    /// <summary>Largest payload one record may carry; longer lengths found on disk are treated as corruption.</summary>
    public int MaxRecordPayloadBytes { get; init; } = 256 * 1024 * 1024;

    /// <summary>A checkpoint is taken automatically after this many log bytes, so start-up replays at most this much.</summary>
    public long CheckpointEveryBytes { get; init; } = 256L * 1024 * 1024;

    /// <summary>A closed segment whose live bytes fall below this fraction of its size is compacted.</summary>
    public double CompactBelowLiveFraction { get; init; } = 0.5;

    /// <summary>Compaction runs on its own after checkpoints when set; tests turn it off to drive it by hand.</summary>
    public bool AutoCompact { get; init; } = true;

    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;

    /// <summary>Told about every corrupt record found while reading (never delivered). What it throws is contained: the read goes on.</summary>
    public Action<CorruptionReport>? OnCorruption { get; init; }
}
