using System.Diagnostics;
using System.Numerics;

namespace Holdfast.LoadTool;

/// <summary>
/// Append latencies in Stopwatch ticks, in log-linear buckets allocated once up front so that
/// recording a sample allocates nothing and costs a few instructions on the measured path.
/// <para>
/// Values below 64 ticks are counted exactly; above that each power of two is split into 64
/// buckets, so a reported percentile is within 1/64 (1.6 %) of the true sample. The maximum is
/// kept exactly. One histogram per writer: no sharing, no interlocked operations.
/// </para>
/// </summary>
internal sealed class LatencyHistogram
{
    private const int SubBucketBits = 6;
    private const int SubBuckets = 1 << SubBucketBits;

    // Octave 0 holds 0..63 exactly; octaves 1..57 cover the remaining bits of a positive long.
    private readonly long[] _counts = new long[(64 - SubBucketBits + 1) * SubBuckets];

    public long Count { get; private set; }

    public long MaxTicks { get; private set; }

    public void Record(long ticks)
    {
        ticks = Math.Max(ticks, 0);
        _counts[IndexOf(ticks)]++;
        Count++;
        if (ticks > MaxTicks)
        {
            MaxTicks = ticks;
        }
    }

    public void Add(LatencyHistogram other)
    {
        ArgumentNullException.ThrowIfNull(other);
        for (var i = 0; i < _counts.Length; i++)
        {
            _counts[i] += other._counts[i];
        }

        Count += other.Count;
        MaxTicks = Math.Max(MaxTicks, other.MaxTicks);
    }

    /// <summary>The smallest recorded value that at least <paramref name="quantile"/> of the samples do not exceed (bucket upper edge, capped at the exact max).</summary>
    public long TicksAtQuantile(double quantile)
    {
        if (Count == 0)
        {
            return 0;
        }

        var rank = Math.Max(1, (long)Math.Ceiling(quantile * Count));
        long seen = 0;
        for (var i = 0; i < _counts.Length; i++)
        {
            seen += _counts[i];
            if (seen >= rank)
            {
                return Math.Min(UpperEdge(i), MaxTicks);
            }
        }

        return MaxTicks;
    }

    public LatencySummary Summarize() => new(
        Microseconds(TicksAtQuantile(0.50)),
        Microseconds(TicksAtQuantile(0.99)),
        Microseconds(TicksAtQuantile(0.999)),
        Microseconds(MaxTicks));

    public static double Microseconds(long ticks) => Math.Round(ticks * 1_000_000.0 / Stopwatch.Frequency, 1);

    private static int IndexOf(long ticks)
    {
        if (ticks < SubBuckets)
        {
            return (int)ticks;
        }

        var msb = 63 - BitOperations.LeadingZeroCount((ulong)ticks);
        var octave = msb - SubBucketBits + 1;
        var sub = (int)(ticks >> (msb - SubBucketBits)) & (SubBuckets - 1);
        return (octave * SubBuckets) + sub;
    }

    private static long UpperEdge(int index)
    {
        if (index < SubBuckets)
        {
            return index;
        }

        var octave = index / SubBuckets;
        var sub = index % SubBuckets;
        var width = 1L << (octave - 1);
        return ((SubBuckets + sub) * width) + width - 1;
    }
}
