using System.Diagnostics;

namespace Holdfast.LoadTool;

/// <summary>Process-wide counters read at both ends of the window: CPU time, managed allocations, collections, contended locks.</summary>
internal readonly record struct ProcessSample(long Timestamp, TimeSpan CpuTime, long AllocatedBytes, int Gen0, int Gen2, long LockContentions)
{
    public static ProcessSample Take()
    {
        using var process = Process.GetCurrentProcess();
        return new ProcessSample(
            Stopwatch.GetTimestamp(),
            process.TotalProcessorTime,
            GC.GetTotalAllocatedBytes(precise: true),
            GC.CollectionCount(0),
            GC.CollectionCount(2),
            Monitor.LockContentionCount);
    }

    public double CpuPercentSince(ProcessSample start)
    {
        var wall = Stopwatch.GetElapsedTime(start.Timestamp, Timestamp);
        return Math.Round(100 * (CpuTime - start.CpuTime).TotalSeconds / wall.TotalSeconds, 1);
    }

    public double LockContentionsPerRecordSince(ProcessSample start, long records) =>
        records == 0 ? 0 : Math.Round((LockContentions - start.LockContentions) / (double)records, 4);
}
