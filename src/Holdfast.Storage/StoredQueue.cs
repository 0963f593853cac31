using Holdfast.Storage.Queues;

namespace Holdfast.Storage;

/// <summary>
/// A queue's index in the store: its messages in sequence-number order, each a small entry pointing
/// into the commit log. Read and changed through <see cref="MessageStore"/>; the counts are a snapshot.
/// </summary>
public sealed class StoredQueue
{
    internal StoredQueue(uint id, string name)
    {
        Id = id;
        Name = name;
    }

    private long _appliedNext;

    public uint Id { get; }

    public string Name { get; }

    /// <summary>Messages not yet acked: ready plus delivered.</summary>
    public long MessageCount { get; internal set; }

    public long ReadyCount { get; internal set; }

    public long DeliveredCount => MessageCount - ReadyCount;

    public bool IsDeleted { get; internal set; }

    internal EntryWindow Entries { get; } = new();

    /// <summary>Next sequence number to give an append (ahead of <see cref="EntryWindow.Next"/> while appends are in flight).</summary>
    internal long NextAssigned { get; set; }

    /// <summary>
    /// One past the highest sequence number ever applied, acked or not. Sequence numbers are never
    /// reused: an index file may still hold an old entry for a reused one, and stored offsets name them.
    /// </summary>
    internal long AppliedNext { get => Volatile.Read(ref _appliedNext); set => Volatile.Write(ref _appliedNext, value); }

    /// <summary>Every message below this sequence number has been written, so <see cref="MessageStore.TryRead"/> finds it unless it was acked. Read without the store's lock.</summary>
    public long WrittenNext => AppliedNext;

    /// <summary>A delete has been appended but not yet applied: the queue takes no more appends and its name is free.</summary>
    internal bool Deleting { get; set; }

    /// <summary>Log position just past the record that created the queue: it is durable once the log is synced to here.</summary>
    internal long CreatedEnd { get; init; }

    /// <summary>No ready entry has a sequence number below this.</summary>
    internal long ReadyCursor { get; set; }

    /// <summary>
    /// Index files hold every entry below this sequence number as of the last checkpoint, or will once
    /// the checkpoint being written stands (raised when its snapshot is taken, so a relocation applied
    /// meanwhile is recorded in <see cref="Relocated"/>; lowered again if that checkpoint fails).
    /// </summary>
    internal long IndexDurableNext { get; set; }

    /// <summary>Entries below <see cref="IndexDurableNext"/> repointed by compaction since the last checkpoint.</summary>
    internal HashSet<long> Relocated { get; } = [];

    public override string ToString() => $"queue {Name} (#{Id}, {MessageCount} messages)";
}
