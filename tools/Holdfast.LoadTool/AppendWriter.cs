using System.Diagnostics;
using Holdfast.Storage;

namespace Holdfast.LoadTool;

/// <summary>
/// One publisher: keeps <c>inFlight</c> appends outstanding, as a connection pipelining publishes
/// with confirms would, and awaits them in the order it issued them.
/// <para>
/// Each append is timed from just before the call (so lock contention counts) to the moment this
/// writer sees it complete. After awaiting the oldest, every following append that has already
/// completed is collected before any new one is issued, so an append is not charged for the time
/// spent issuing its successors. Timestamps live in an array sized once; nothing is allocated per append.
/// </para>
/// </summary>
internal sealed class AppendWriter
{
    private readonly MessageStore _store;
    private readonly StoredQueue[] _queues;
    private readonly FlushPolicy _policy;
    private readonly byte[] _payload;
    private readonly RunWindow _window;
    private readonly ValueTask[] _pending;
    private readonly long[] _started;

    public AppendWriter(MessageStore store, StoredQueue queue, FlushPolicy policy, int inFlight, int payloadBytes, RunWindow window, int seed)
    {
        _store = store;
        _queues = [queue];
        _policy = policy;
        _window = window;
        _payload = new byte[payloadBytes];
        new Random(seed).NextBytes(_payload);
        _pending = new ValueTask[inFlight];
        _started = new long[inFlight];
    }

    public LatencyHistogram Latency { get; } = new();

    /// <summary>Appends that completed inside the measured window.</summary>
    public long Completed { get; private set; }

    public async Task RunAsync()
    {
        var capacity = _pending.Length;
        var head = 0;
        var outstanding = 0;
        while (true)
        {
            while (outstanding < capacity && !_window.Stopping)
            {
                Issue((head + outstanding) % capacity);
                outstanding++;
            }

            if (outstanding == 0)
            {
                return;
            }

            await _pending[head];
            Finish(head);
            head = (head + 1) % capacity;
            outstanding--;

            while (outstanding > 0 && _pending[head].IsCompleted)
            {
                await _pending[head]; // Already complete: consumes the result without suspending.
                Finish(head);
                head = (head + 1) % capacity;
                outstanding--;
            }
        }
    }

    private void Issue(int slot)
    {
        _started[slot] = Stopwatch.GetTimestamp();
#pragma warning disable CA2012 // Kept in a ring so K can be outstanding; RunAsync awaits each slot exactly once.
        _pending[slot] = _store.AppendAsync(_queues, _payload, policy: _policy);
#pragma warning restore CA2012
    }

    private void Finish(int slot)
    {
        var finished = Stopwatch.GetTimestamp();
        _pending[slot] = default;
        if (_window.Finished(finished))
        {
            Completed++;
            if (_window.Within(_started[slot], finished))
            {
                Latency.Record(finished - _started[slot]);
            }
        }
    }
}
