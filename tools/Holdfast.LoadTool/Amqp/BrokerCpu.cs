using System.Globalization;

namespace Holdfast.LoadTool.Amqp;

/// <summary>
/// CPU time of the broker's process (<c>--broker-pid</c>), read from <c>/proc/PID/stat</c> at both ends of the
/// window: a broker at 100 % of a core while pushing few messages is a finding the throughput alone hides.
/// </summary>
internal static class BrokerCpu
{
    // USER_HZ: the unit of utime and stime in /proc, 100 on every mainstream Linux build.
    private const double ClockTicksPerSecond = 100;

    public static TimeSpan? Read(int? pid)
    {
        if (pid is null)
        {
            return null;
        }

        try
        {
            var text = File.ReadAllText($"/proc/{pid.Value.ToString(CultureInfo.InvariantCulture)}/stat");
            // "pid (comm) state ppid ...": comm may contain spaces, so split after its closing parenthesis;
            // fields then start at 3 (state), so utime (14) and stime (15) are at 11 and 12.
            var fields = text[(text.LastIndexOf(')') + 2)..].Split(' ');
            var ticks = long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
            return TimeSpan.FromSeconds(ticks / ClockTicksPerSecond);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException or ArgumentOutOfRangeException)
        {
            return null;
        }
    }

    /// <summary>Percent of one core (200 = both cores of this machine) between two readings <paramref name="wall"/> apart.</summary>
    public static double? Percent(TimeSpan? before, TimeSpan? after, TimeSpan wall) =>
        before is { } b && after is { } a && wall > TimeSpan.Zero ? Math.Round(100 * (a - b).TotalSeconds / wall.TotalSeconds, 1) : null;
}
