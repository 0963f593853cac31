using Holdfast.Broker.Alarms;
using Holdfast.Conformance.Tests.Durability;
using Holdfast.Storage;
using Holdfast.Testing;
using RabbitMQ.Client;

namespace Holdfast.Conformance.Tests.Alarms;

/// <summary>
/// A durable in-process broker whose memory use the test sets: <see cref="Raise"/> puts it over its high-water mark
/// and <see cref="Clear"/> back under, each followed by the alarm check the broker would run on its timer. Free disk
/// reads as unlimited, since the build machine's real disk may be nearly full and only the memory alarm is under test.
/// </summary>
internal sealed class MemoryAlarmBroker : IAsyncDisposable
{
    public const long HighWatermarkBytes = 1L << 30;

    private readonly TempDirectory _directory = new("holdfast-alarms");
    private long _memoryUsedBytes;
    private DurableBroker? _broker;

    private MemoryAlarmBroker()
    {
    }

    public DurableBroker Broker => _broker ?? throw new InvalidOperationException("Not started.");

    public static async Task<MemoryAlarmBroker> StartAsync()
    {
        var alarmed = new MemoryAlarmBroker();
        try
        {
            alarmed._broker = await DurableBroker.StartAsync(
                new StoreOptions { Directory = alarmed._directory.Path, SegmentSizeBytes = 1 << 20, DefaultFlushPolicy = FlushPolicy.Async },
                options => options with
                {
                    Limits = new ResourceLimits { MemoryHighWatermarkBytes = HighWatermarkBytes },
                    MemoryProbe = () => Interlocked.Read(ref alarmed._memoryUsedBytes),
                    DiskFreeProbe = () => long.MaxValue,
                });
            return alarmed;
        }
        catch
        {
            await alarmed.DisposeAsync();
            throw;
        }
    }

    public void Raise() => SetMemoryUsed(HighWatermarkBytes + 1);

    public void Clear() => SetMemoryUsed(HighWatermarkBytes / 2);

    /// <summary>The reason of the connection's next connection.blocked.</summary>
    public static Task<string> NextBlockedAsync(IConnection connection)
    {
        var blocked = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        connection.ConnectionBlockedAsync += (_, e) =>
        {
            blocked.TrySetResult(e.Reason);
            return Task.CompletedTask;
        };
        return blocked.Task;
    }

    public async ValueTask DisposeAsync()
    {
        if (_broker is not null)
        {
            await _broker.DisposeAsync();
        }

        _directory.Dispose();
    }

    private void SetMemoryUsed(long bytes)
    {
        Interlocked.Exchange(ref _memoryUsedBytes, bytes);
        Broker.Server.Alarms!.Check();
    }
}
