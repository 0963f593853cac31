using Holdfast.Storage.Binary;
using Holdfast.Storage.Log;
using Holdfast.Storage.Queues;

namespace Holdfast.Storage.State;

/// <summary>
/// Everything the log's records add up to: queues and their entries, delivery counts, consumer
/// offsets, metadata, and how much of each segment is still referenced. Changed only by
/// <see cref="Apply"/>, in log order, both live (after a record is written) and during recovery
/// (replaying the log after the checkpoint), so the two can never disagree. Callers hold the store's lock.
/// </summary>
internal sealed class StoreState(SegmentCatalog segments)
{
    public Dictionary<uint, StoredQueue> QueuesById { get; } = [];

    public Dictionary<string, StoredQueue> QueuesByName { get; } = new(StringComparer.Ordinal);

    public Dictionary<string, long> Offsets { get; } = new(StringComparer.Ordinal);

    public Dictionary<string, byte[]> Metadata { get; } = new(StringComparer.Ordinal);

    /// <summary>Queues deleted since the last checkpoint: their index files go once a checkpoint no longer lists them.</summary>
    public List<uint> DeletedQueues { get; } = [];

    public uint NextQueueId { get; set; } = 1;

    public SegmentCatalog Segments => segments;

    /// <summary>Index entries added or repointed by replay (recovery's statistic).</summary>
    public long EntriesApplied { get; private set; }

    public void Apply(long position, RecordView record, ReadOnlySpan<byte> payload)
    {
        var reader = new SpanReader(payload);
        switch (record.Type)
        {
            case RecordType.Message:
                ApplyMessage(position, record, ref reader);
                break;
            case RecordType.Ack:
                {
                    var queue = Find(reader.U32());
                    var count = reader.U32();
                    for (var i = 0; i < count; i++)
                    {
                        var seq = reader.I64();
                        if (queue is not null)
                        {
                            AckEntry(queue, seq);
                        }
                    }

                    queue?.Entries.TrimAcked();
                    break;
                }

            case RecordType.Requeue:
                {
                    var queue = Find(reader.U32());
                    var seq = reader.I64();
                    if (queue is not null && queue.Entries.Contains(seq))
                    {
                        ref var entry = ref queue.Entries[seq];
                        if (entry.IsLive)
                        {
                            entry.DeliveryCount++;
                            queue.Entries.NoteMarked(seq);
                            MakeReady(queue, seq, ref entry);
                        }
                    }

                    break;
                }

            case RecordType.Purge:
                ApplyPurge(ref reader);
                break;
            case RecordType.QueueCreate:
                {
                    var id = reader.U32();
                    var name = reader.ShortString();
                    if (!QueuesById.ContainsKey(id))
                    {
                        var queue = new StoredQueue(id, name) { CreatedEnd = position + record.SizeOnDisk };
                        QueuesById[id] = queue;
                        QueuesByName[name] = queue;
                    }

                    NextQueueId = Math.Max(NextQueueId, id + 1);
                    break;
                }

            case RecordType.QueueDelete:
                {
                    var queue = Find(reader.U32());
                    if (queue is not null)
                    {
                        DeleteQueue(queue);
                    }

                    break;
                }

            case RecordType.Offset:
                {
                    var key = reader.ShortString();
                    Offsets[key] = reader.I64();
                    break;
                }

            case RecordType.MetadataPut:
                {
                    var key = reader.ShortString();
                    var length = (int)reader.U32();
                    Metadata[key] = reader.Bytes(length).ToArray();
                    break;
                }

            case RecordType.MetadataDelete:
                Metadata.Remove(reader.ShortString());
                break;
            default:
                throw new InvalidDataException($"Unknown record type {record.Type} at position {position}.");
        }
    }

    /// <summary>Adds a live entry loaded from an index file at start-up.</summary>
    public void Load(StoredQueue queue, long seq, QueueEntry entry)
    {
        queue.Entries.Add(seq, entry);
        queue.MessageCount++;
        queue.ReadyCount++;
        if (entry.DeliveryCount > 0)
        {
            queue.Entries.NoteMarked(seq);
        }

        Reference(entry.Position, entry.Length, +1);
    }

    public StoredQueue? Find(uint id) => QueuesById.TryGetValue(id, out var queue) && !queue.IsDeleted ? queue : null;

    /// <summary>Marks an entry acked and releases its hold on its segment. Returns false when it was not live.</summary>
    public bool AckEntry(StoredQueue queue, long seq)
    {
        if (!queue.Entries.Contains(seq))
        {
            return false;
        }

        ref var entry = ref queue.Entries[seq];
        if (!entry.IsLive)
        {
            return false;
        }

        if (entry.State == EntryState.Ready)
        {
            queue.ReadyCount--;
        }

        queue.MessageCount--;
        entry.State = EntryState.Acked;
        queue.Entries.NoteMarked(seq);
        Reference(entry.Position, entry.Length, -1);
        return true;
    }

    public static void MakeReady(StoredQueue queue, long seq, ref QueueEntry entry)
    {
        if (entry.State == EntryState.Delivered)
        {
            entry.State = EntryState.Ready;
            queue.ReadyCount++;
            queue.ReadyCursor = Math.Min(queue.ReadyCursor, seq);
        }
    }

    private void ApplyMessage(long position, RecordView record, ref SpanReader reader)
    {
        var relocated = (record.Flags & RecordFlags.Relocated) != 0;
        int targets = reader.U16();
        for (var i = 0; i < targets; i++)
        {
            var queue = Find(reader.U32());
            var seq = reader.I64();
            if (queue is null)
            {
                continue;
            }

            var entries = queue.Entries;
            if (!relocated && seq >= entries.Next)
            {
                entries.Add(seq, new QueueEntry { Position = position, Length = record.SizeOnDisk, State = EntryState.Ready });
                queue.MessageCount++;
                queue.ReadyCount++;
                queue.NextAssigned = Math.Max(queue.NextAssigned, seq + 1);
                queue.AppliedNext = Math.Max(queue.AppliedNext, seq + 1);
                Reference(position, record.SizeOnDisk, +1);
                EntriesApplied++;
            }
            else if (relocated && entries.Contains(seq) && entries[seq].IsLive)
            {
                Repoint(ref entries[seq], position, record.SizeOnDisk);
                if (seq < queue.IndexDurableNext)
                {
                    queue.Relocated.Add(seq);
                }

                EntriesApplied++;
            }
        }

        // A move: the message it came from leaves its queue in this same record, never separately.
        if (!relocated && MessagePayload.AcksSource(record.Flags))
        {
            var source = Find(reader.U32());
            var sourceSeq = reader.I64();
            if (source is not null && AckEntry(source, sourceSeq))
            {
                source.Entries.TrimAcked();
            }
        }
    }

    /// <summary>Points a live entry at another copy of its record (compaction, or an index entry rebuilt from the log).</summary>
    public void Repoint(ref QueueEntry entry, long position, int length)
    {
        Reference(entry.Position, entry.Length, -1);
        entry.Position = position;
        entry.Length = length;
        Reference(position, length, +1);
    }

    private void ApplyPurge(ref SpanReader reader)
    {
        var queue = Find(reader.U32());
        var upTo = reader.I64();
        var keepCount = reader.U32();
        HashSet<long>? keep = keepCount == 0 ? null : [];
        for (var i = 0; i < keepCount; i++)
        {
            keep!.Add(reader.I64());
        }

        if (queue is null)
        {
            return;
        }

        var end = Math.Min(upTo, queue.Entries.Next);
        for (var seq = queue.Entries.Head; seq < end; seq++)
        {
            if (keep is null || !keep.Contains(seq))
            {
                AckEntry(queue, seq);
            }
        }

        queue.Entries.TrimAcked();
    }

    private void DeleteQueue(StoredQueue queue)
    {
        var entries = queue.Entries;
        for (var seq = entries.Head; seq < entries.Next; seq++)
        {
            AckEntry(queue, seq);
        }

        entries.TrimAcked();
        queue.IsDeleted = true;
        QueuesById.Remove(queue.Id);
        if (QueuesByName.TryGetValue(queue.Name, out var named) && named == queue)
        {
            QueuesByName.Remove(queue.Name);
        }

        DeletedQueues.Add(queue.Id);
    }

    private void Reference(long position, int length, int delta)
    {
        if (position < 0)
        {
            return;
        }

        var segment = segments.Find(position);
        if (segment is not null)
        {
            segment.LiveReferences += delta;
            segment.LiveBytes += delta * (long)length;
        }
    }
}
