namespace Holdfast.Storage.Queues;

/// <summary>
/// The entries of a queue from its oldest live sequence number to its newest, in a ring buffer:
/// O(1) append, lookup by sequence number and trimming of the acked head.
/// </summary>
internal sealed class EntryWindow
{
    private QueueEntry[] _items = new QueueEntry[16];
    private int _start;
    private int _count;

    /// <summary>Sequence number of the first entry held; everything below it is acked.</summary>
    public long Head { get; private set; }

    /// <summary>One past the newest sequence number held.</summary>
    public long Next => Head + _count;

    public bool Contains(long seq) => seq >= Head && seq < Next;

    /// <summary>
    /// Every entry from here to <see cref="Next"/> is live and was never redelivered, as far as the
    /// window has been told (<see cref="NoteMarked"/>, and the holes <see cref="Add"/> makes): a
    /// checkpoint walks the window for acked ranges and delivery counts only below it.
    /// </summary>
    public long MarkedBelow { get; private set; }

    /// <summary>The entry at <paramref name="seq"/> was acked or redelivered.</summary>
    public void NoteMarked(long seq) => MarkedBelow = Math.Max(MarkedBelow, seq + 1);

    /// <summary>A walk found no acked or redelivered entry at or past <paramref name="seq"/>.</summary>
    public void ClearMarkedFrom(long seq) => MarkedBelow = Math.Min(MarkedBelow, seq);

    public ref QueueEntry this[long seq] => ref _items[(_start + (int)(seq - Head)) & (_items.Length - 1)];

    /// <summary>Starts an empty window at <paramref name="head"/> (used when loading a checkpoint).</summary>
    public void Reset(long head)
    {
        _start = 0;
        _count = 0;
        Head = head;
        MarkedBelow = head;
        Array.Clear(_items);
    }

    /// <summary>Adds the entry for <paramref name="seq"/>; sequence numbers skipped on the way are holes, recorded as acked.</summary>
    public void Add(long seq, QueueEntry entry)
    {
        if (seq < Next)
        {
            throw new InvalidOperationException($"Sequence {seq} is behind the window's end {Next}.");
        }

        if (_count == 0 && seq > Head)
        {
            Head = seq; // Nothing live between: no need to hold holes.
        }

        if (Next < seq)
        {
            MarkedBelow = Math.Max(MarkedBelow, seq);
        }

        while (Next < seq)
        {
            Push(default);
        }

        Push(entry);
    }

    /// <summary>Drops acked entries from the head.</summary>
    public void TrimAcked()
    {
        while (_count > 0 && _items[_start].State == EntryState.Acked)
        {
            _items[_start] = default;
            _start = (_start + 1) & (_items.Length - 1);
            _count--;
            Head++;
        }
    }

    /// <summary>Moves the head forward to <paramref name="seq"/> when nothing is held (keeps sequence numbers monotonic across purges).</summary>
    public void AdvanceEmptyTo(long seq)
    {
        if (_count == 0 && seq > Head)
        {
            Head = seq;
        }
    }

    private void Push(QueueEntry entry)
    {
        if (_count == _items.Length)
        {
            var bigger = new QueueEntry[_items.Length * 2];
            for (var i = 0; i < _count; i++)
            {
                bigger[i] = _items[(_start + i) & (_items.Length - 1)];
            }

            _items = bigger;
            _start = 0;
        }

        _items[(_start + _count) & (_items.Length - 1)] = entry;
        _count++;
    }
}
