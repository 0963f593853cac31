namespace Holdfast.Storage.Recovery;

/// <summary>What scanning one segment found.</summary>
/// <param name="ValidEnd">Log position just past the last intact record.</param>
/// <param name="FileEnd">Log position of the end of the file.</param>
internal sealed record SegmentScan(long ValidEnd, long FileEnd, long Records, IReadOnlyList<CorruptionReport> Corrupt);
