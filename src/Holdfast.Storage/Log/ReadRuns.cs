namespace Holdfast.Storage.Log;

/// <summary>
/// Groups records sorted by position into runs that one read can cover: each next record starts at most a gap
/// after the last one ends, and the run stays within a size. Used by the paths that read many records back
/// (<see cref="MessageStore.ReadMany{TState}"/>, compaction).
/// </summary>
internal static class ReadRuns
{
    /// <summary>The index just past the run that starts at <paramref name="first"/>, and the run's end position.</summary>
    public static int End(ReadOnlySpan<(long Position, int Length, long Seq)> records, int first, int gapBytes, int runBytes, out long end)
    {
        var start = records[first].Position;
        end = start + records[first].Length;
        var next = first + 1;
        while (next < records.Length && records[next].Position >= end && records[next].Position - end <= gapBytes
            && records[next].Position + records[next].Length - start <= runBytes)
        {
            end = records[next].Position + records[next].Length;
            next++;
        }

        return next;
    }
}
