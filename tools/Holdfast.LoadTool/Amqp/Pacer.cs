using System.Diagnostics;

namespace Holdfast.LoadTool.Amqp;

/// <summary>
/// A fixed publish schedule for one producer (<c>--rate</c>): message n is due at start + n / rate. A producer
/// that falls behind sends at once until it has caught up, so the offered rate holds over the run (open loop).
/// <para>
/// <see cref="NextAsync"/> returns when the next message is due and the timestamp latency is counted from: the
/// moment the schedule released it, before any wait for the confirm window, so time spent blocked on the broker
/// counts and the timer's own lateness does not. Waits under a millisecond are not slept (the timer cannot do
/// them), so a message may leave up to 1 ms early.
/// </para>
/// </summary>
internal sealed class Pacer
{
    private readonly double _ticksPerMessage;
    private long _start;
    private long _sent;

    public Pacer(double messagesPerSecond)
    {
        _ticksPerMessage = messagesPerSecond > 0 ? Stopwatch.Frequency / messagesPerSecond : 0;
    }

    public bool Enabled => _ticksPerMessage > 0;

    public async ValueTask<long> NextAsync(CancellationToken cancellation)
    {
        var now = Stopwatch.GetTimestamp();
        if (!Enabled)
        {
            return now;
        }

        if (_sent == 0)
        {
            _start = now;
        }

        var due = _start + (long)(_sent++ * _ticksPerMessage);
        var wait = Stopwatch.GetElapsedTime(now, due);
        if (wait >= TimeSpan.FromMilliseconds(1))
        {
            await Task.Delay(wait, cancellation).ConfigureAwait(false);
        }

        return Stopwatch.GetTimestamp();
    }
}
