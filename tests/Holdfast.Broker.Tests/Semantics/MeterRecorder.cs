using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Holdfast.Broker.Monitoring;

namespace Holdfast.Broker.Tests.Semantics;

/// <summary>Sums one instrument of the broker's meter, for measurements whose tag <c>key</c> has the given value (tests run in parallel).</summary>
internal sealed class MeterRecorder : IDisposable
{
    private readonly MeterListener _listener = new();
    private readonly ConcurrentDictionary<string, object?> _tags = new(StringComparer.Ordinal);
    private long _total;

    public MeterRecorder(string instrument, string key, string value)
    {
        _listener.InstrumentPublished = (published, listener) =>
        {
            if (published.Meter.Name == BrokerEvents.MeterName && published.Name == instrument)
            {
                listener.EnableMeasurementEvents(published);
            }
        };
        _listener.SetMeasurementEventCallback<long>((_, measurement, tags, _) =>
        {
            var mine = false;
            foreach (var tag in tags)
            {
                mine |= tag.Key == key && Equals(tag.Value, value);
            }

            if (mine)
            {
                foreach (var tag in tags)
                {
                    _tags[tag.Key] = tag.Value;
                }

                Interlocked.Add(ref _total, measurement);
            }
        });
        _listener.Start();
    }

    public long Total => Interlocked.Read(ref _total);

    public object? Tag(string key) => _tags.GetValueOrDefault(key);

    public void Dispose() => _listener.Dispose();
}
