using Holdfast.Storage;

namespace Holdfast.LoadTool;

/// <summary>What the <c>recovery</c> verb was asked to do.</summary>
internal sealed record RecoveryLoadOptions
{
    public required string Directory { get; init; }

    public long Records { get; init; } = 1_000_000;

    public int PayloadBytes { get; init; } = 1000;

    public long SegmentSizeBytes { get; init; } = StoreOptions.DefaultSegmentSizeBytes;

    public bool DropCaches { get; init; }

    public bool Keep { get; init; }
}
