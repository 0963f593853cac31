using System.Diagnostics;

namespace Holdfast.LoadTool.Amqp;

/// <summary>
/// <c>--timeline</c>: confirms counted per 100 ms of the window, to see what a percentile hides: confirms arriving
/// in bursts, or a broker that stops confirming for a while. One per producer, touched only by its confirm path.
/// </summary>
internal sealed class Timeline
{
    public static readonly TimeSpan Step = TimeSpan.FromMilliseconds(100);

    private static readonly long StepTicks = (long)(Step.TotalSeconds * Stopwatch.Frequency);

    private readonly RunWindow _window;
    private readonly long[] _counts;

    public Timeline(RunWindow window, TimeSpan duration)
    {
        _window = window;
        _counts = new long[(int)Math.Ceiling(duration / Step)];
    }

    /// <summary>Counts one confirm that arrived at <paramref name="timestamp"/>, inside the window.</summary>
    public void Count(long timestamp)
    {
        var index = (timestamp - _window.Start) / StepTicks;
        if (index >= 0 && index < _counts.Length)
        {
            _counts[index]++;
        }
    }

    public static long[]? Sum(IEnumerable<Timeline?> timelines)
    {
        long[]? total = null;
        foreach (var timeline in timelines)
        {
            if (timeline is null)
            {
                continue;
            }

            total ??= new long[timeline._counts.Length];
            for (var i = 0; i < total.Length; i++)
            {
                total[i] += timeline._counts[i];
            }
        }

        return total;
    }
}
