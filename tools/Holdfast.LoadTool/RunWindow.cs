using System.Diagnostics;

namespace Holdfast.LoadTool;

/// <summary>
/// The measured window, shared by the driver and its writers. Both ends are fixed together when the
/// warm-up ends, so a writer deciding whether a completion counts never races the driver's clock.
/// Throughput counts appends that finished inside [start, end); latency counts those that also
/// started inside it, so warm-up queueing never leaks into the percentiles.
/// </summary>
internal sealed class RunWindow
{
    private long _start = long.MaxValue;
    private long _end = long.MaxValue;
    private volatile bool _stopping;

    public long Start => Volatile.Read(ref _start);

    public long End => Volatile.Read(ref _end);

    public bool Stopping => _stopping;

    public void Open(long startTimestamp, TimeSpan length)
    {
        // End first: a writer that sees the new start must also see the matching end.
        Volatile.Write(ref _end, startTimestamp + (long)(length.TotalSeconds * Stopwatch.Frequency));
        Volatile.Write(ref _start, startTimestamp);
    }

    public void Stop() => _stopping = true;

    public bool Finished(long finished) => finished >= Start && finished < End;

    public bool Within(long started, long finished) => started >= Start && finished < End;
}
