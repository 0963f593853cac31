namespace Holdfast.Storage.Recovery;

/// <summary>What scanning one segment found.</summary>
/// <param name="ValidEnd">Log position just past the last intact record.</param>
/// <param name="End">Log position where the scan had to stop: the end of the file, or of the segment's data when the next segment begins there.</param>
/// <param name="StaleFrom">Where the file's previous life as another segment shows (a recycled file), or -1 when it does not.</param>
internal sealed record SegmentScan(long ValidEnd, long End, long StaleFrom, long Records, IReadOnlyList<CorruptionReport> Corrupt);
