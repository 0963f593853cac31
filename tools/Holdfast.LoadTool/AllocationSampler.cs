using System.Collections.Concurrent;
using System.Diagnostics.Tracing;
using System.Globalization;

namespace Holdfast.LoadTool;

/// <summary>
/// Where a run's managed allocations come from, without an external profiler: the runtime raises
/// a GC AllocationTick event about every 100 KB allocated, naming the type that crossed the mark,
/// so counting ticks per type gives an allocation profile by sampling. Printed to stderr so the
/// JSON line on stdout stays the only output a script reads.
/// </summary>
internal sealed class AllocationSampler : EventListener
{
    private const string RuntimeSource = "Microsoft-Windows-DotNETRuntime";
    private const EventKeywords GcKeyword = (EventKeywords)0x1;
    private readonly ConcurrentDictionary<string, long> _bytesByType = new(StringComparer.Ordinal);
    private volatile bool _recording;

    public void Start() => _recording = true;

    public void Stop() => _recording = false;

    public void Report(TextWriter output, int top)
    {
        ArgumentNullException.ThrowIfNull(output);
        var total = _bytesByType.Values.Sum();
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"allocation samples (AllocationTick, ~100 KB each), {total / 1024.0 / 1024.0:F1} MiB sampled:"));
        foreach (var (type, bytes) in _bytesByType.OrderByDescending(p => p.Value).Take(top))
        {
            output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {100.0 * bytes / Math.Max(1, total),5:F1}%  {bytes / 1024.0 / 1024.0,8:F1} MiB  {type}"));
        }
    }

    protected override void OnEventSourceCreated(EventSource eventSource)
    {
        ArgumentNullException.ThrowIfNull(eventSource);
        if (eventSource.Name == RuntimeSource)
        {
            EnableEvents(eventSource, EventLevel.Verbose, GcKeyword);
        }
    }

    protected override void OnEventWritten(EventWrittenEventArgs eventData)
    {
        ArgumentNullException.ThrowIfNull(eventData);
        if (!_recording || eventData.EventName is null || !eventData.EventName.StartsWith("GCAllocationTick", StringComparison.Ordinal) || eventData.Payload is null)
        {
            return;
        }

        var type = "?";
        long amount = 0;
        for (var i = 0; i < eventData.Payload.Count; i++)
        {
            switch (eventData.PayloadNames?[i])
            {
                case "TypeName":
                    type = eventData.Payload[i] as string ?? "?";
                    break;
                case "AllocationAmount64":
                    amount = Convert.ToInt64(eventData.Payload[i], CultureInfo.InvariantCulture);
                    break;
            }
        }

        _bytesByType.AddOrUpdate(type, amount, (_, sum) => sum + amount);
    }
}
