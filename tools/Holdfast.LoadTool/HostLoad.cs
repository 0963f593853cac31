using System.Globalization;

namespace Holdfast.LoadTool;

/// <summary>
/// The machine's 1-minute load average at the end of a measurement (Linux), printed with the figures:
/// on a shared machine a slow run next to a busy neighbour should be recognisable as such.
/// </summary>
internal static class HostLoad
{
    public static double? OneMinute()
    {
        try
        {
            var text = File.ReadAllText("/proc/loadavg");
            var first = text.Split(' ', 2)[0];
            return double.Parse(first, NumberStyles.Float, CultureInfo.InvariantCulture);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or FormatException)
        {
            return null;
        }
    }
}
