namespace Holdfast.Broker.Queues;

/// <summary>
/// A queue's ready messages in delivery order. The plain order is arrival, with requeued messages
/// going back to their original place; a priority queue (<c>x-max-priority</c>) serves higher
/// priorities first and arrival order within one priority.
/// </summary>
internal abstract class ReadyList
{
    public abstract int Count { get; }

    public static ReadyList Create(int maxPriority) => maxPriority > 0 ? new PriorityReadyList() : new FifoReadyList();

    /// <summary>A message that just arrived (its sequence number is the highest yet).</summary>
    public abstract void Add(QueuedMessage entry);

    /// <summary>A message coming back (requeued): it goes to its original place.</summary>
    public abstract void Return(QueuedMessage entry);

    public abstract QueuedMessage? Peek();

    public abstract bool TryTake(out QueuedMessage entry);

    /// <summary>Empties the list, returning what it held.</summary>
    public abstract List<QueuedMessage> Drain();

    /// <summary>Copies up to <paramref name="into"/>.Length of the next entries to go out (in order, newly arrived ones only); returns how many.</summary>
    public abstract int PeekArrivals(Span<QueuedMessage?> into);

    private static void Unlist(List<QueuedMessage> entries)
    {
        foreach (var entry in entries)
        {
            entry.InReadyList = false;
        }
    }

    private sealed class FifoReadyList : ReadyList
    {
        private readonly Queue<QueuedMessage> _arrived = new();
        private readonly PriorityQueue<QueuedMessage, long> _returned = new();

        public override int Count => _arrived.Count + _returned.Count;

        public override void Add(QueuedMessage entry)
        {
            entry.InReadyList = true;
            _arrived.Enqueue(entry);
        }

        public override void Return(QueuedMessage entry)
        {
            entry.InReadyList = true;
            _returned.Enqueue(entry, entry.Seq);
        }

        public override QueuedMessage? Peek()
        {
            var hasReturned = _returned.TryPeek(out var returned, out var returnedSeq);
            var hasArrived = _arrived.TryPeek(out var arrived);
            return hasReturned && (!hasArrived || returnedSeq < arrived!.Seq) ? returned : arrived;
        }

        public override bool TryTake(out QueuedMessage entry)
        {
            if (_returned.TryPeek(out _, out var returnedSeq) && (!_arrived.TryPeek(out var next) || returnedSeq < next.Seq))
            {
                entry = _returned.Dequeue();
            }
            else if (!_arrived.TryDequeue(out entry!))
            {
                return false;
            }

            entry.InReadyList = false;
            return true;
        }

        public override int PeekArrivals(Span<QueuedMessage?> into)
        {
            var n = 0;
            foreach (var entry in _arrived)
            {
                if (n == into.Length)
                {
                    break;
                }

                into[n++] = entry;
            }

            return n;
        }

        public override List<QueuedMessage> Drain()
        {
            var all = new List<QueuedMessage>(Count);
            all.AddRange(_arrived);
            all.AddRange(_returned.UnorderedItems.Select(i => i.Element));
            _arrived.Clear();
            _returned.Clear();
            Unlist(all);
            return all;
        }
    }

    private sealed class PriorityReadyList : ReadyList
    {
        private readonly PriorityQueue<QueuedMessage, (int Priority, long Seq)> _heap = new();

        public override int Count => _heap.Count;

        public override void Add(QueuedMessage entry)
        {
            entry.InReadyList = true;
            _heap.Enqueue(entry, (-entry.Priority, entry.Seq));
        }

        public override void Return(QueuedMessage entry) => Add(entry);

        public override QueuedMessage? Peek() => _heap.TryPeek(out var entry, out _) ? entry : null;

        public override bool TryTake(out QueuedMessage entry)
        {
            if (!_heap.TryDequeue(out entry!, out _))
            {
                return false;
            }

            entry.InReadyList = false;
            return true;
        }

        // The heap has no cheap in-order walk: a priority queue reads its messages back one at a time.
        public override int PeekArrivals(Span<QueuedMessage?> into) => 0;

        public override List<QueuedMessage> Drain()
        {
            var all = _heap.UnorderedItems.Select(i => i.Element).ToList();
            _heap.Clear();
            Unlist(all);
            return all;
        }
    }
}
