using System.Buffers;
using Holdfast.Broker.Messages;
using Holdfast.Broker.Queues;
using Holdfast.Broker.Topology;
using Holdfast.Storage;

namespace Holdfast.Broker.Delayed;

/// <summary>
/// Messages published with an <c>x-delay</c> header (the delayed-message plugin's name), held until
/// their time and then routed as if published then. They wait in a store index of their own, so a
/// delayed message confirmed to its publisher survives restarts and crashes (the plugin's does not);
/// a transient one is written without an fsync and dropped at a restart, like any transient message.
/// Release is a move: the record that stores the routed message also acks the held copy, so a crash
/// leaves the message either held or released, never both; the queues see it once that record is written.
/// </summary>
internal sealed class DelayedMessageScheduler : IDisposable
{
    private readonly Lock _gate = new();
    private readonly MessageStore _store;
    private readonly TimeProvider _time;
    private readonly string _indexName;
    private readonly Func<BrokerMessage, MovedFrom, ValueTask<ReleaseOutcome>> _route;
    private readonly PriorityQueue<Held, (long Due, long Order)> _held = new();
    private readonly ArrayBufferWriter<byte> _encoded = new(256);
    private StoredQueue? _index;
    private readonly ITimer _timer;
    private long _order;
    private long _refusals;
    private bool _disposed;

    /// <param name="route">Routes a released message as a move from its held copy.</param>
    public DelayedMessageScheduler(MessageStore store, TimeProvider time, string indexName, Func<BrokerMessage, MovedFrom, ValueTask<ReleaseOutcome>> route)
    {
        _store = store;
        _time = time;
        _indexName = indexName;
        _route = route;
        _timer = time.CreateTimer(static state => ((DelayedMessageScheduler)state!).OnTimer(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
    }

    /// <summary>Releases a full queue refused (the message stayed held and was tried again).</summary>
    public long Refusals => Interlocked.Read(ref _refusals);

    public int Count
    {
        get
        {
            lock (_gate)
            {
                return _held.Count;
            }
        }
    }

    /// <summary>The delay a message asks for: a positive whole <c>x-delay</c> header, in milliseconds.</summary>
    public static long? DelayOf(BrokerMessage message)
    {
        if (message.Properties.Headers is not { } headers || !headers.TryGetHeader("x-delay", out var value))
        {
            return null;
        }

        long? delay = TopologyArguments.AsInteger(value) ?? value switch
        {
            TextValue text when long.TryParse(text.ToString(), System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out var parsed) => parsed,
            _ => null,
        };
        return delay is > 0 ? delay : null;
    }

    /// <summary>Reloads what was held before a restart; transient messages are let go, as a restart drops them anywhere else.</summary>
    public async Task RecoverAsync()
    {
        if (_store.FindQueue(_indexName) is not { } index)
        {
            return;
        }

        _index = index;
        var dropped = new List<long>();
        foreach (var entry in _store.ListLive(index))
        {
            if (!_store.TryRead(index, entry.Seq, out var stored))
            {
                continue;
            }

            using (stored)
            {
                var message = StoredMessageFormat.Read(stored!.Payload.ToArray(), out var arrivedAtMs);
                if (!message.Properties.IsPersistent || DelayOf(message) is not { } delay)
                {
                    dropped.Add(entry.Seq);
                    continue;
                }

                lock (_gate)
                {
                    _held.Enqueue(new Held(message, entry.Seq), (DueTime.After(arrivedAtMs, delay), _order++));
                }
            }
        }

        if (dropped.Count > 0)
        {
            await _store.AckAsync(index, dropped.ToArray(), FlushPolicy.Async).ConfigureAwait(false);
        }

        lock (_gate)
        {
            ArmLocked();
        }
    }

    /// <summary>
    /// Holds a message; the task completes when it is stored to the flush point its persistence asks for. What refuses
    /// it (a record too large for the store) throws before it is stored: once it is, nothing here throws, for a
    /// publisher told of a failure publishes again, and the copy already held would be released all the same.
    /// </summary>
    public ValueTask HoldAsync(BrokerMessage message, long delayMs)
    {
        var now = _time.GetUtcNow().ToUnixTimeMilliseconds();
        var due = DueTime.After(now, delayMs);
        lock (_gate)
        {
            _index ??= _store.FindQueue(_indexName);
            if (_index is null)
            {
                return new ValueTask(HoldAfterDeclareAsync(message, delayMs));
            }

            _encoded.ResetWrittenCount();
            StoredMessageFormat.WriteHead(message, _encoded, now);
            Span<long> seq = stackalloc long[1];
            var write = _store.AppendAsync([_index], _encoded.WrittenSpan, message.Body.Span, seq, message.Properties.IsPersistent ? null : FlushPolicy.Async);
            _held.Enqueue(new Held(message, seq[0]), (due, _order++));
            ArmLocked();
            return write;
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            _disposed = true;
            _timer.Dispose();
        }
    }

    private async Task HoldAfterDeclareAsync(BrokerMessage message, long delayMs)
    {
        var index = await _store.DeclareQueueAsync(_indexName).ConfigureAwait(false);
        lock (_gate)
        {
            _index ??= index;
        }

        await HoldAsync(message, delayMs).ConfigureAwait(false);
    }

    private void ArmLocked()
    {
        if (_disposed || !_held.TryPeek(out _, out var key))
        {
            return;
        }

        // A due time past the longest a timer waits is looked at again then (OnTimer releases only what is due).
        DueTime.Arm(_timer, _time, key.Due);
    }

    private void OnTimer()
    {
        var due = new List<Held>();
        lock (_gate)
        {
            var now = _time.GetUtcNow().ToUnixTimeMilliseconds();
            while (_held.TryPeek(out var held, out var key) && key.Due <= now)
            {
                _held.Dequeue();
                due.Add(held);
            }

            ArmLocked();
        }

        foreach (var held in due)
        {
            _ = ReleaseAsync(held);
        }
    }

    private async Task ReleaseAsync(Held held)
    {
        var index = _index;
        var from = index is not null && held.StoreSeq >= 0 ? new MovedFrom(index, held.StoreSeq) : MovedFrom.InMemory;
        try
        {
            switch (await _route(held.Message, from).ConfigureAwait(false))
            {
                case ReleaseOutcome.Moved:
                    return;
                case ReleaseOutcome.Refused:
                    // Confirmed to its publisher when held: a full queue delays it, it never drops it.
                    Interlocked.Increment(ref _refusals);
                    Rehold(held, RefusedRetry);
                    return;
            }
        }
        catch (BrokerException)
        {
            // Its exchange is gone: the message is unroutable now, as a publish to a deleted exchange would be.
        }
#pragma warning disable CA1031 // A release that could not be stored is tried again; the held copy stays until then.
        catch (Exception)
#pragma warning restore CA1031
        {
            Rehold(held, TimeSpan.FromSeconds(1));
            return;
        }

        // Not moved (it routed nowhere, or only to queues that keep it in memory): the held copy goes on its own.
        if (from.Index is { } copy)
        {
            try
            {
                await _store.AckAsync(copy, from.Seq, FlushPolicy.Async).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is StorageFailedException or DiskFullException or ObjectDisposedException)
            {
                // The held copy comes back after a restart and is released again: at-least-once.
            }
        }
    }

    private static readonly TimeSpan RefusedRetry = TimeSpan.FromSeconds(5);

    private void Rehold(Held held, TimeSpan after)
    {
        lock (_gate)
        {
            _held.Enqueue(held, (_time.GetUtcNow().ToUnixTimeMilliseconds() + (long)after.TotalMilliseconds, _order++));
            ArmLocked();
        }
    }

    private sealed record Held(BrokerMessage Message, long StoreSeq);
}
