using BenchmarkDotNet.Attributes;
using Holdfast.Broker.Messages;
using Holdfast.Broker.Sessions;

namespace Holdfast.Benchmarks;

/// <summary>
/// Publisher confirms for one channel (<see cref="ConfirmTracker"/>): each invocation tracks
/// <see cref="Publishes"/> publishes, completes them as their writes would, and waits until the
/// tracker has sent the confirm of the last one from its thread-pool flush. Times and allocations
/// are per message and include that hand-off, which is the tracker's real cost.
/// </summary>
/// <remarks>
/// <para>
/// <c>InOrder</c> is a transient publish or a group commit releasing its appends in log order: the
/// first completion schedules a flush, and whatever completes before the flush runs rides in its
/// <c>multiple</c> ack. <c>AllButFirstEarly</c> is the best case: every later write done before the
/// first, so one flush confirms all. <c>InOrderSomeNacked</c> nacks every 16th, which splits the
/// runs. <c>OneAtATime</c> waits for each confirm before the next publish, as a publisher with a
/// window of one does, so every message pays a flush.
/// </para>
/// <para>
/// Allocations are counted on all threads, the flush's included. On exit each case prints how many
/// messages one confirm frame covered on average, which depends on how the flush races the
/// completions on this machine.
/// </para>
/// </remarks>
[MemoryDiagnoser]
public class ConfirmTrackerBenchmarks
{
    private const int Publishes = 256;

    private readonly CountingEvents _events = new();
    private ConfirmTracker _tracker = null!;
    private ulong _published;

    [GlobalSetup]
    public void Setup() => _tracker = new ConfirmTracker(_events);

    [GlobalCleanup]
    public void Cleanup() =>
        Console.WriteLine($"// {_published:N0} confirms in {_events.Frames:N0} frames: {_published / (double)Math.Max(1, _events.Frames):F1} messages per frame");

    [Benchmark(Baseline = true, OperationsPerInvoke = Publishes)]
    public ulong InOrder()
    {
        ulong first = _published + 1;
        ulong last = _published + Publishes;
        for (ulong sequence = first; sequence <= last; sequence++)
        {
            _tracker.Complete(sequence, ack: true);
        }

        _published = last;
        return _events.WaitFor(last);
    }

    [Benchmark(OperationsPerInvoke = Publishes)]
    public ulong AllButFirstEarly()
    {
        ulong first = _published + 1;
        ulong last = _published + Publishes;
        for (ulong sequence = last; sequence > first; sequence--)
        {
            _tracker.Complete(sequence, ack: true);
        }

        _tracker.Complete(first, ack: true);
        _published = last;
        return _events.WaitFor(last);
    }

    [Benchmark(OperationsPerInvoke = Publishes)]
    public ulong InOrderSomeNacked()
    {
        ulong first = _published + 1;
        ulong last = _published + Publishes;
        for (ulong sequence = first; sequence <= last; sequence++)
        {
            _tracker.Complete(sequence, ack: sequence % 16 != 0);
        }

        _published = last;
        return _events.WaitFor(last);
    }

    [Benchmark(OperationsPerInvoke = Publishes)]
    public ulong OneAtATime()
    {
        ulong last = _published + Publishes;
        for (ulong sequence = _published + 1; sequence <= last; sequence++)
        {
            _tracker.Complete(sequence, ack: true);
            _events.WaitFor(sequence);
        }

        _published = last;
        return last;
    }

    /// <summary>Records the newest confirm sent (they go out in sequence order) and counts the frames.</summary>
    private sealed class CountingEvents : IChannelEvents
    {
        private ulong _confirmed;
        private long _frames;

        public long Frames => Interlocked.Read(ref _frames);

        public bool IsCongested => false;

        public ulong WaitFor(ulong sequence)
        {
            // Spin, never Sleep(1): a millisecond's sleep would swamp a flush that takes microseconds.
            var spinner = default(SpinWait);
            while (Volatile.Read(ref _confirmed) < sequence)
            {
                spinner.SpinOnce(sleep1Threshold: -1);
            }

            return sequence;
        }

        public void Confirm(ulong sequence, bool multiple, bool ack)
        {
            Interlocked.Increment(ref _frames);
            Volatile.Write(ref _confirmed, sequence);
        }

        public void Deliver(in Delivery delivery)
        {
        }

        public void ReturnMessage(BrokerMessage message, ReturnReason reason)
        {
        }

        public void ConsumerCancelled(string consumerTag)
        {
        }

        public void Fail(Holdfast.Broker.BrokerException reason)
        {
        }
    }
}
