using System.Globalization;

namespace Holdfast.LoadTool.Amqp;

/// <summary>The broker process's resident memory (<c>--broker-pid</c>), from <c>VmRSS</c> in <c>/proc/PID/status</c>.</summary>
internal static class BrokerMemory
{
    public static double? ReadRssMiB(int? pid)
    {
        if (pid is null)
        {
            return null;
        }

        try
        {
            foreach (var line in File.ReadLines($"/proc/{pid.Value.ToString(CultureInfo.InvariantCulture)}/status"))
            {
                // "VmRSS:	  176500 kB"
                if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
                {
                    var kib = long.Parse(line["VmRSS:".Length..].Trim().Split(' ')[0], CultureInfo.InvariantCulture);
                    return Math.Round(kib / 1024.0, 1);
                }
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or FormatException)
        {
        }

        return null;
    }
}
