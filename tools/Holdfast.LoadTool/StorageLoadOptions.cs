using Holdfast.Storage;

namespace Holdfast.LoadTool;

/// <summary>What the <c>storage</c> verb was asked to do.</summary>
internal sealed record StorageLoadOptions
{
    public required string Directory { get; init; }

    public required FlushPolicy Policy { get; init; }

    public required string PolicyName { get; init; }

    public int Writers { get; init; } = 1;

    public int InFlight { get; init; } = 1;

    public int PayloadBytes { get; init; } = 1024;

    public TimeSpan Duration { get; init; } = TimeSpan.FromSeconds(10);

    public TimeSpan Warmup { get; init; } = TimeSpan.FromSeconds(2);

    public long SegmentSizeBytes { get; init; } = StoreOptions.DefaultSegmentSizeBytes;

    public bool DirectWrites { get; init; }

    public long CheckpointEveryBytes { get; init; } = new StoreOptions().CheckpointEveryBytes;

    public bool BaselineFsync { get; init; }

    /// <summary>With <see cref="BaselineFsync"/>: write the file's blocks (zeros) first, so each fdatasync persists data only.</summary>
    public bool BaselineIntoWrittenBlocks { get; init; }

    public bool Keep { get; init; }

    /// <summary>Sample allocations by type during the window and print them to stderr (the sampling itself allocates a little).</summary>
    public bool TraceAllocations { get; init; }
}
