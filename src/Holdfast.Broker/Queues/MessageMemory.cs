namespace Holdfast.Broker.Queues;

/// <summary>
/// How many bytes of message bodies the broker's queues hold in memory, against a budget. Over the
/// budget, queues page new messages to the store (transient ones into an index that does not
/// survive a restart) and keep only their place in line, reading bodies back when they are delivered;
/// RabbitMQ does the same from half its memory high-water mark. A message routed to several queues
/// is counted once per queue, which errs on the side of paging early.
/// </summary>
public sealed class MessageMemory
{
    private long _held;

    /// <summary>The budget in bytes; 0 means unlimited (nothing is paged).</summary>
    public long LimitBytes { get; set; }

    public long HeldBytes => Interlocked.Read(ref _held);

    public bool OverBudget => LimitBytes > 0 && Interlocked.Read(ref _held) > LimitBytes;

    /// <summary>Half way to the budget: queues get their page index ready, so paging can start the moment it is needed.</summary>
    public bool NearBudget => LimitBytes > 0 && Interlocked.Read(ref _held) > LimitBytes / 2;

    internal void Add(long bytes) => Interlocked.Add(ref _held, bytes);

    internal void Remove(long bytes) => Interlocked.Add(ref _held, -bytes);
}
