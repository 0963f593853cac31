using System.Buffers;
using Holdfast.Storage.Devices;
using Holdfast.Storage.Binary;
using Holdfast.Storage.Log;
using Holdfast.Storage.Queues;
using Holdfast.Storage.Recovery;
using Holdfast.Storage.State;

namespace Holdfast.Storage;

/// <summary>
/// Holdfast's storage engine: one shared commit log, an index per queue pointing into it, and the
/// queue state (acks, delivery counts, offsets) journalled in the same log and checkpointed.
/// <para>
/// Every change is a record appended to the log and applied to the in-memory state only once the
/// record has been written, in log order, by the same code that replays the log at start-up; so what
/// a reader sees after a restart is exactly what had been written before it. Each method returns a
/// task that completes when its record has reached the flush policy's point.
/// </para>
/// <para>
/// Thread safety: all methods may be called concurrently. One lock guards the state; it is held for
/// memory work only (copying a record into the pending buffer, updating an entry), never across I/O.
/// </para>
/// </summary>
public sealed class MessageStore : IDisposable, IAsyncDisposable, ILogApplier
{
    private readonly object _gate = new();
    private readonly StoreOptions _options;
    private readonly IStorageDevice _device;
    private readonly SegmentCatalog _segments = new();
    private readonly StoreState _state;
    private readonly CheckpointWriter _checkpoints;
    private readonly SpareSegments _spares;
    private readonly SegmentReclaimer _reclaimer;
    private readonly CommitLog _log;
    private readonly Dictionary<string, Task<StoredQueue>> _pendingDeclares = new(StringComparer.Ordinal);
    private long _corruptSkipped;
    private long _relocated;
    private int _compacting;
    private bool _disposed;

    private MessageStore(StoreOptions options)
    {
        _options = options;
        _device = options.Device ?? new FileSystemDevice(options.Directory, options.DirectWrites ? Segment.Directory : null, options.DirectWriteMinimumBytes);
        _state = new StoreState(_segments);
        var spares = _spares = new SpareSegments(_device, options.SpareSegmentFiles);
        var recovery = new StoreRecovery(_device, options, _segments, spares, _state);
        Recovery = recovery.Run();
        _reclaimer = new SegmentReclaimer(_device);
        _checkpoints = new CheckpointWriter(_device, _gate, _state, spares, _reclaimer) { Generation = recovery.Generation };
        try
        {
            _log = new CommitLog(_device, options, _segments, spares, this, _gate, Recovery.LogEnd, recovery.CheckpointPosition);
        }
        catch
        {
            _reclaimer.Dispose();
            throw;
        }
    }

    /// <summary>What opening the store found: records recovered, bytes truncated, corruption skipped.</summary>
    public RecoveryReport Recovery { get; }

    public StoreOptions Options => _options;

    /// <summary>The error that stopped the store, if one has.</summary>
    public Exception? Failure => _log.Failure;

    /// <summary>
    /// Opens (creating if needed) and recovers the store. When recovery replayed records, a checkpoint
    /// is started so the next start is quick; it is written in the background, since recovery stands
    /// without it (a crash before it is written only means the next open replays the same records).
    /// </summary>
    public static async Task<MessageStore> OpenAsync(StoreOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var store = await Task.Run(() => new MessageStore(options)).ConfigureAwait(false);
        if (store.Recovery.RecordsRecovered > 0 || store.Recovery.BytesTruncated > 0 || store.Recovery.IndexEntriesRebuilt > 0)
        {
            // A checkpoint that fails for a full disk leaves the store as it is, and any other failure
            // fails the store, which reports it through Failure and every later call.
            _ = store.CheckpointAsync().ContinueWith(static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }

        return store;
    }

    public IReadOnlyCollection<StoredQueue> Queues
    {
        get
        {
            lock (_gate)
            {
                return [.. _state.QueuesById.Values];
            }
        }
    }

    public StoredQueue? FindQueue(string name)
    {
        lock (_gate)
        {
            return _state.QueuesByName.GetValueOrDefault(name);
        }
    }

    /// <summary>Returns the queue of that name, creating it durably if it does not exist.</summary>
    public Task<StoredQueue> DeclareQueueAsync(string name, FlushPolicy? policy = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        var sync = (policy ?? _options.DefaultFlushPolicy).Kind == FlushKind.Sync;
        StoredQueue unsynced;
        lock (_gate)
        {
            if (_log.Failure is { } failure)
            {
                // Even for a queue that exists: its creation may be among the writes the failed fsync lost.
                return Task.FromException<StoredQueue>(new StorageFailedException("The store has failed: " + failure.Message, failure));
            }

            // A queue exists in memory once its record is written; a Sync caller may rely on it only
            // once that record is synced, and an earlier declare in flight may have asked for less.
            if (_state.QueuesByName.TryGetValue(name, out var existing))
            {
                if (!sync || _log.SyncedEnd >= existing.CreatedEnd)
                {
                    return Task.FromResult(existing);
                }

                unsynced = existing;
            }
            else if (_pendingDeclares.TryGetValue(name, out var pending))
            {
                return sync ? RedeclareAfter(pending, name, policy) : pending;
            }
            else
            {
                var id = _state.NextQueueId++;
                var written = Record(RecordType.QueueCreate, 4 + SpanWriter.ShortStringSize(name), policy, (id, name), static (ref SpanWriter w, (uint Id, string Name) a) =>
                {
                    w.U32(a.Id);
                    w.ShortString(a.Name);
                });
                var task = CompleteDeclare(name, id, written);
                if (!task.IsCompleted)
                {
                    // A record refused at once (the store closing) has already run CompleteDeclare's cleanup.
                    _pendingDeclares[name] = task;
                }

                return task;
            }
        }

        return SyncedDeclare(unsynced);
    }

    /// <summary>
    /// Deletes a queue and everything in it. From the moment this is called the queue takes no more
    /// appends (they report sequence number -1 for it) and its name is free for a new declare, so a
    /// message can never be confirmed into a queue that is about to vanish.
    /// </summary>
    public async ValueTask DeleteQueueAsync(StoredQueue queue, FlushPolicy? policy = null)
    {
        ArgumentNullException.ThrowIfNull(queue);
        ValueTask written;
        lock (_gate)
        {
            if (queue.IsDeleted || queue.Deleting)
            {
                return;
            }

            queue.Deleting = true;
            if (_state.QueuesByName.TryGetValue(queue.Name, out var named) && named == queue)
            {
                _state.QueuesByName.Remove(queue.Name);
            }

            written = Record(RecordType.QueueDelete, 4, policy, queue.Id, static (ref SpanWriter w, uint id) => w.U32(id));
        }

        try
        {
            await written;
        }
        catch
        {
            lock (_gate)
            {
                // The delete never reached the log: the queue is still there, as after a restart it would be.
                queue.Deleting = false;
                if (!queue.IsDeleted && !_state.QueuesByName.ContainsKey(queue.Name))
                {
                    _state.QueuesByName[queue.Name] = queue;
                }
            }

            throw;
        }
    }

    /// <summary>
    /// Appends one message for any number of queues: one record in the log, one entry per queue.
    /// The sequence number each queue gave it is written to <paramref name="assignedSeqs"/> (-1 for a
    /// queue deleted meanwhile) before this returns; the task completes at the policy's point.
    /// </summary>
    public ValueTask AppendAsync(ReadOnlySpan<StoredQueue> queues, ReadOnlySpan<byte> payload, Span<long> assignedSeqs = default, FlushPolicy? policy = null) =>
        Append(queues, payload, default, assignedSeqs, policy, source: null, sourceSeq: -1);

    /// <summary>
    /// As <see cref="AppendAsync(ReadOnlySpan{StoredQueue}, ReadOnlySpan{byte}, Span{long}, FlushPolicy?)"/>, for a
    /// payload held in two parts: it is stored as one, <paramref name="payloadHead"/> then
    /// <paramref name="payloadTail"/>, and read back as one. A caller that encodes a small head for a large body it
    /// already holds saves copying the body into the head's buffer first.
    /// </summary>
    /// <param name="completeOnLogThread">
    /// Complete the task on the log's own thread (its writer or syncer), where a continuation awaiting it runs at once,
    /// instead of on a thread-pool item. Only for a continuation that never blocks, never waits for the store (nor
    /// closes it) and takes microseconds: the log's next write or fsync waits for it. Work it defers with
    /// <see cref="TryRunAfterCompletions"/> runs after the other continuations the same write or fsync released.
    /// </param>
    public ValueTask AppendAsync(ReadOnlySpan<StoredQueue> queues, ReadOnlySpan<byte> payloadHead, ReadOnlySpan<byte> payloadTail, Span<long> assignedSeqs, FlushPolicy? policy = null, bool completeOnLogThread = false) =>
        Append(queues, payloadHead, payloadTail, assignedSeqs, policy, source: null, sourceSeq: -1, completeOnLogThread);

    /// <summary>
    /// Moves a message: appends it for <paramref name="queues"/> and acks message
    /// <paramref name="sourceSeq"/> of <paramref name="source"/> in the same record, so after a crash
    /// either the new copies exist and the old one is gone, or nothing happened. The source is acked
    /// only when at least one target takes the message (some assigned sequence number is not -1);
    /// otherwise it stays, and the caller decides.
    /// </summary>
    public ValueTask AppendMovingAsync(ReadOnlySpan<StoredQueue> queues, ReadOnlySpan<byte> payload, Span<long> assignedSeqs, StoredQueue source, long sourceSeq, FlushPolicy? policy = null) =>
        AppendMovingAsync(queues, payload, default, assignedSeqs, source, sourceSeq, policy);

    /// <summary>As <see cref="AppendMovingAsync(ReadOnlySpan{StoredQueue}, ReadOnlySpan{byte}, Span{long}, StoredQueue, long, FlushPolicy?)"/>, for a payload held in two parts (see the two-part <c>AppendAsync</c>).</summary>
    public ValueTask AppendMovingAsync(ReadOnlySpan<StoredQueue> queues, ReadOnlySpan<byte> payloadHead, ReadOnlySpan<byte> payloadTail, Span<long> assignedSeqs, StoredQueue source, long sourceSeq, FlushPolicy? policy = null)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentOutOfRangeException.ThrowIfNegative(sourceSeq);
        return Append(queues, payloadHead, payloadTail, assignedSeqs, policy, source, sourceSeq);
    }

    private ValueTask Append(ReadOnlySpan<StoredQueue> queues, ReadOnlySpan<byte> payloadHead, ReadOnlySpan<byte> payloadTail, Span<long> assignedSeqs, FlushPolicy? policy, StoredQueue? source, long sourceSeq, bool completeOnLogThread = false)
    {
        var bodyLength = payloadHead.Length + payloadTail.Length;
        if (!assignedSeqs.IsEmpty && assignedSeqs.Length < queues.Length)
        {
            throw new ArgumentException("assignedSeqs must have room for one sequence number per queue.", nameof(assignedSeqs));
        }

        if (queues.Length > ushort.MaxValue)
        {
            throw new ArgumentException($"A message may go to at most {ushort.MaxValue} queues.", nameof(queues));
        }

        lock (_gate)
        {
            var live = 0;
            foreach (var queue in queues)
            {
                live += Accepts(queue) ? 1 : 0;
            }

            if (source is not null && sourceSeq >= source.NextAssigned)
            {
                throw new ArgumentOutOfRangeException(nameof(sourceSeq), sourceSeq, $"Queue '{source.Name}' has no message {sourceSeq}.");
            }

            // A source in a queue being deleted is acked by the deletion; with no target, nothing moves.
            var acksSource = source is not null && live > 0 && Accepts(source);
            var payloadLength = MessagePayload.Size(live, bodyLength, acksSource);
            if (payloadLength > _options.MaxRecordPayloadBytes)
            {
                throw new ArgumentException($"The message is {bodyLength} bytes; the store's limit is {_options.MaxRecordPayloadBytes - MessagePayload.Size(live, 0, acksSource)}.", nameof(payloadHead));
            }

            Span<byte> destination;
            try
            {
                destination = _log.BeginRecord(payloadLength, out _);
            }
            catch (Exception ex) when (ex is StorageFailedException or ObjectDisposedException)
            {
                return ValueTask.FromException(ex);
            }

            System.Buffers.Binary.BinaryPrimitives.WriteUInt16LittleEndian(destination, (ushort)live);
            var target = 0;
            for (var i = 0; i < queues.Length; i++)
            {
                var queue = queues[i];
                var seq = -1L;
                if (Accepts(queue))
                {
                    seq = queue.NextAssigned++;
                    MessagePayload.WriteTarget(destination, target++, queue.Id, seq);
                }

                if (!assignedSeqs.IsEmpty)
                {
                    assignedSeqs[i] = seq;
                }
            }

            if (acksSource)
            {
                MessagePayload.WriteSource(destination, live, source!.Id, sourceSeq);
            }

            var body = destination[MessagePayload.BodyOffset(live, acksSource)..];
            payloadHead.CopyTo(body);
            payloadTail.CopyTo(body[payloadHead.Length..]);
            return _log.CommitRecord(RecordType.Message, acksSource ? RecordFlags.AcksSource : RecordFlags.None, policy ?? _options.DefaultFlushPolicy, completeOnLogThread);
        }
    }

    /// <summary>
    /// Hands out the oldest ready message of the queue, marking it delivered (in memory only: after a
    /// restart it is ready again). Returns false when nothing is ready. A message whose record fails its
    /// check is reported through <see cref="StoreOptions.OnCorruption"/>, written off, and skipped.
    /// </summary>
    public bool TryReadNext(StoredQueue queue, out StoredMessage? message)
    {
        ArgumentNullException.ThrowIfNull(queue);
        while (true)
        {
            long seq;
            QueueEntry entry;
            lock (_gate)
            {
                if (queue.IsDeleted || !TryTakeReady(queue, out seq))
                {
                    message = null;
                    return false;
                }

                entry = queue.Entries[seq];
            }

            message = Read(queue, seq, entry);
            if (message is not null)
            {
                return true;
            }
        }
    }

    /// <summary>
    /// Reads one live message by sequence number without changing its state (for a broker that
    /// tracks delivery itself). False when the message is acked, unknown, or failed its check.
    /// </summary>
    public bool TryRead(StoredQueue queue, long seq, out StoredMessage? message)
    {
        ArgumentNullException.ThrowIfNull(queue);
        QueueEntry entry;
        lock (_gate)
        {
            if (queue.IsDeleted || !queue.Entries.Contains(seq) || !queue.Entries[seq].IsLive)
            {
                message = null;
                return false;
            }

            entry = queue.Entries[seq];
        }

        message = Read(queue, seq, entry);
        return message is not null;
    }

    /// <summary>What <see cref="ReadMany{TState}"/> hands over for each message it found: the payload is valid only during the call.</summary>
    public delegate void ReadManyCallback<in TState>(TState state, long seq, ReadOnlySpan<byte> payload);

    /// <summary>
    /// Reads several live messages of one queue with as few reads as their places in the log allow:
    /// records that lie close together (as a queue's messages do when they arrived together) come in
    /// one read. <paramref name="found"/> is called for each message read, in log order; one that is
    /// acked, unknown or fails its check is skipped (and written off, as <see cref="TryRead"/> does).
    /// </summary>
    public void ReadMany<TState>(StoredQueue queue, ReadOnlySpan<long> seqs, TState state, ReadManyCallback<TState> found)
    {
        ArgumentNullException.ThrowIfNull(queue);
        ArgumentNullException.ThrowIfNull(found);
        var wanted = ArrayPool<(long Position, int Length, long Seq)>.Shared.Rent(Math.Max(1, seqs.Length));
        var count = 0;
        try
        {
            lock (_gate)
            {
                if (queue.IsDeleted)
                {
                    return;
                }

                foreach (var seq in seqs)
                {
                    if (queue.Entries.Contains(seq) && queue.Entries[seq] is { IsLive: true, Position: >= 0 } entry)
                    {
                        wanted[count++] = (entry.Position, entry.Length, seq);
                    }
                }
            }

            var items = wanted.AsSpan(0, count);
            items.Sort(static (a, b) => a.Position.CompareTo(b.Position));
            for (var i = 0; i < items.Length;)
            {
                // One read covers a run of records with small gaps between them (another queue's record, an ack).
                var start = items[i].Position;
                var j = ReadRuns.End(items, i, ReadManyGapBytes, ReadManyRunBytes, out var end);
                ReadRun(queue, items[i..j], start, (int)(end - start), state, found);
                i = j;
            }
        }
        finally
        {
            ArrayPool<(long, int, long)>.Shared.Return(wanted);
        }
    }

    private const int ReadManyGapBytes = 4096;
    private const int ReadManyRunBytes = 1 << 20;

    private void ReadRun<TState>(StoredQueue queue, ReadOnlySpan<(long Position, int Length, long Seq)> items, long start, int length, TState state, ReadManyCallback<TState> found)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(length);
        try
        {
            var read = _log.TryRead(start, buffer.AsSpan(0, length));
            foreach (var (position, recordLength, seq) in items)
            {
                var bytes = buffer.AsSpan((int)(position - start), recordLength);
                if (read && TryFindBody(bytes, position, queue, seq, out var bodyStart, out var bodyLength))
                {
                    found(state, seq, bytes.Slice(bodyStart, bodyLength));
                    continue;
                }

                // Moved by compaction meanwhile, or damaged: the single-message path re-resolves it or writes it off.
                if (TryRead(queue, seq, out var single))
                {
                    using (single)
                    {
                        found(state, seq, single!.Payload.Span);
                    }
                }
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>The queue's live (unacked) messages in sequence order, without reading their payloads: what a broker loads at start.</summary>
    public IReadOnlyList<StoredEntry> ListLive(StoredQueue queue)
    {
        ArgumentNullException.ThrowIfNull(queue);
        lock (_gate)
        {
            var window = queue.Entries;
            var result = new List<StoredEntry>((int)Math.Min(queue.MessageCount, int.MaxValue));
            for (var seq = window.Head; seq < window.Next; seq++)
            {
                if (window[seq].IsLive)
                {
                    result.Add(new StoredEntry(seq, window[seq].DeliveryCount, window[seq].Length));
                }
            }

            return result;
        }
    }

    /// <summary>Reads up to <paramref name="maxCount"/> live messages from <paramref name="fromSeq"/> on, without delivering them (for streams and inspection).</summary>
    public IReadOnlyList<StoredMessage> ReadRange(StoredQueue queue, long fromSeq, int maxCount)
    {
        ArgumentNullException.ThrowIfNull(queue);
        var wanted = new List<(long Seq, QueueEntry Entry)>();
        lock (_gate)
        {
            var window = queue.Entries;
            for (var seq = Math.Max(fromSeq, window.Head); seq < window.Next && wanted.Count < maxCount; seq++)
            {
                if (window[seq].IsLive)
                {
                    wanted.Add((seq, window[seq]));
                }
            }
        }

        var result = new List<StoredMessage>(wanted.Count);
        foreach (var (seq, entry) in wanted)
        {
            if (Read(queue, seq, entry) is { } message)
            {
                result.Add(message);
            }
        }

        return result;
    }

    /// <summary>Acknowledges messages: they are gone for good once the task completes.</summary>
    public ValueTask AckAsync(StoredQueue queue, long seq, FlushPolicy? policy = null) => AckAsync(queue, [seq], policy);

    public ValueTask AckAsync(StoredQueue queue, ReadOnlySpan<long> seqs, FlushPolicy? policy = null)
    {
        ArgumentNullException.ThrowIfNull(queue);
        lock (_gate)
        {
            return TryBeginAckLocked(queue, seqs, out var failure)
                ? _log.CommitRecord(RecordType.Ack, RecordFlags.None, policy ?? _options.DefaultFlushPolicy)
                : ValueTask.FromException(failure!);
        }
    }

    /// <summary>
    /// Acks without reporting back: the record is written with the next batch somebody waits for, or
    /// on its own once it has lingered <see cref="StoreOptions.UnobservedLinger"/>, as with
    /// <see cref="FlushPolicy.Async"/> after that; nothing waits for it, so it costs no task and no
    /// continuation. A crash may lose it (the message is then delivered again); a store that has
    /// failed drops it (the failure is reported through <see cref="Failure"/>).
    /// </summary>
    public void AckUnobserved(StoredQueue queue, ReadOnlySpan<long> seqs)
    {
        ArgumentNullException.ThrowIfNull(queue);
        lock (_gate)
        {
            if (TryBeginAckLocked(queue, seqs, out _))
            {
                _log.CommitUnobserved(RecordType.Ack, RecordFlags.None);
            }
        }
    }

    /// <summary>Writes an Ack record's payload; false (with the reason) when the store takes no more records.</summary>
    private bool TryBeginAckLocked(StoredQueue queue, ReadOnlySpan<long> seqs, out Exception? failure)
    {
        foreach (var seq in seqs)
        {
            if (seq < 0 || seq >= queue.NextAssigned)
            {
                throw new ArgumentOutOfRangeException(nameof(seqs), seq, $"Queue '{queue.Name}' has no message {seq}.");
            }
        }

        Span<byte> destination;
        try
        {
            destination = _log.BeginRecord(8 + (8 * seqs.Length), out _);
        }
        catch (Exception ex) when (ex is StorageFailedException or ObjectDisposedException)
        {
            failure = ex;
            return false;
        }

        var writer = new SpanWriter(destination);
        writer.U32(queue.Id);
        writer.U32((uint)seqs.Length);
        foreach (var seq in seqs)
        {
            writer.I64(seq);
        }

        failure = null;
        return true;
    }

    /// <summary>Returns a delivered message to ready, counting one more delivery (durably).</summary>
    public ValueTask RequeueAsync(StoredQueue queue, long seq, FlushPolicy? policy = null)
    {
        ArgumentNullException.ThrowIfNull(queue);
        lock (_gate)
        {
            if (seq < 0 || seq >= queue.NextAssigned)
            {
                throw new ArgumentOutOfRangeException(nameof(seq), seq, $"Queue '{queue.Name}' has no message {seq}.");
            }

            return Record(RecordType.Requeue, 12, policy, (queue.Id, seq), static (ref SpanWriter w, (uint Id, long Seq) a) =>
            {
                w.U32(a.Id);
                w.I64(a.Seq);
            });
        }
    }

    /// <summary>Removes every ready message (delivered ones stay until acked or requeued). Returns how many were ready.</summary>
    public async ValueTask<long> PurgeAsync(StoredQueue queue, FlushPolicy? policy = null)
    {
        ArgumentNullException.ThrowIfNull(queue);
        ValueTask written;
        long count;
        lock (_gate)
        {
            var keep = new List<long>();
            var window = queue.Entries;
            for (var seq = window.Head; seq < window.Next; seq++)
            {
                if (window[seq].State == EntryState.Delivered)
                {
                    keep.Add(seq);
                }
            }

            count = queue.ReadyCount + (queue.NextAssigned - window.Next);
            written = Record(RecordType.Purge, 4 + 8 + 4 + (8 * keep.Count), policy, (queue.Id, queue.NextAssigned, keep), static (ref SpanWriter w, (uint Id, long UpTo, List<long> Keep) a) =>
            {
                w.U32(a.Id);
                w.I64(a.UpTo);
                w.U32((uint)a.Keep.Count);
                foreach (var seq in a.Keep)
                {
                    w.I64(seq);
                }
            });
        }

        await written;
        return count;
    }

    /// <summary>Stores a consumer offset (for streams and Kafka consumer groups).</summary>
    public ValueTask SetOffsetAsync(string key, long offset, FlushPolicy? policy = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(key);
        lock (_gate)
        {
            return Record(RecordType.Offset, SpanWriter.ShortStringSize(key) + 8, policy, (key, offset), static (ref SpanWriter w, (string Key, long Offset) a) =>
            {
                w.ShortString(a.Key);
                w.I64(a.Offset);
            });
        }
    }

    public long? GetOffset(string key)
    {
        lock (_gate)
        {
            return _state.Offsets.TryGetValue(key, out var offset) ? offset : null;
        }
    }

    /// <summary>Stores a small durable value (topology, users, policies): on disk before the task completes.</summary>
    public ValueTask PutMetadataAsync(string key, ReadOnlySpan<byte> value, FlushPolicy? policy = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(key);
        lock (_gate)
        {
            Span<byte> destination;
            try
            {
                destination = _log.BeginRecord(SpanWriter.ShortStringSize(key) + 4 + value.Length, out _);
            }
            catch (Exception ex) when (ex is StorageFailedException or ObjectDisposedException)
            {
                return ValueTask.FromException(ex);
            }

            var writer = new SpanWriter(destination);
            writer.ShortString(key);
            writer.U32((uint)value.Length);
            writer.Bytes(value);
            return _log.CommitRecord(RecordType.MetadataPut, RecordFlags.None, policy ?? _options.DefaultFlushPolicy);
        }
    }

    public ValueTask DeleteMetadataAsync(string key, FlushPolicy? policy = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(key);
        lock (_gate)
        {
            return Record(RecordType.MetadataDelete, SpanWriter.ShortStringSize(key), policy, key, static (ref SpanWriter w, string k) => w.ShortString(k));
        }
    }

    public bool TryGetMetadata(string key, out byte[]? value)
    {
        lock (_gate)
        {
            value = _state.Metadata.TryGetValue(key, out var stored) ? (byte[])stored.Clone() : null;
            return value is not null;
        }
    }

    public bool HasMetadata(string key)
    {
        lock (_gate)
        {
            return _state.Metadata.ContainsKey(key);
        }
    }

    public IReadOnlyDictionary<string, byte[]> GetMetadata()
    {
        lock (_gate)
        {
            // Copies: the arrays are the store's state, and a caller must not be able to change it by writing to them.
            return _state.Metadata.ToDictionary(e => e.Key, e => (byte[])e.Value.Clone(), StringComparer.Ordinal);
        }
    }

    /// <summary>
    /// From a continuation of an append the store is completing: runs <paramref name="callback"/> once
    /// every append completed by the same write or fsync has been (on the same thread), and returns
    /// true. Anywhere else it does nothing and returns false. For work due once per group commit
    /// rather than once per append, such as sending one confirm frame for a hundred publishes.
    /// </summary>
    public static bool TryRunAfterCompletions(Action<object?> callback, object? state)
    {
        ArgumentNullException.ThrowIfNull(callback);
        return CompletionScope.TryDefer(callback, state);
    }

    /// <summary>Fsyncs the log, writes index entries and the checkpoint, and reclaims what the previous checkpoint found dead.</summary>
    public Task CheckpointAsync() => _log.RequestCheckpoint();

    /// <summary>
    /// Copies the live records of mostly-dead closed segments to the end of the log, repoints their
    /// entries, and checkpoints twice so the emptied segments are deleted. Returns the records copied.
    /// </summary>
    public async Task<long> CompactAsync()
    {
        var copied = await new Compactor(this, _segments, _gate, _options).RelocateAsync().ConfigureAwait(false);
        Interlocked.Add(ref _relocated, copied);
        await CheckpointAsync().ConfigureAwait(false);
        await CheckpointAsync().ConfigureAwait(false);
        return copied;
    }

    public StoreStatistics GetStatistics()
    {
        lock (_gate)
        {
            return new StoreStatistics
            {
                LogEnd = _log.ReservedEnd,
                WrittenEnd = _log.WrittenEnd,
                SyncedEnd = _log.SyncedEnd,
                Fsyncs = _log.FsyncCount,
                OverlappedFsyncs = _log.OverlappedFsyncCount,
                Segments = _segments.Count,
                SegmentBytes = _segments.All.Sum(s => s.Length),
                Checkpoints = _checkpoints.Checkpoints,
                LastCheckpointPosition = _log.LastCheckpoint,
                CorruptRecordsSkipped = Interlocked.Read(ref _corruptSkipped),
                SegmentsDeleted = _checkpoints.SegmentsDeleted,
                SpareSegmentFiles = _spares.Count,
                SegmentsReused = _spares.Reused,
                RecordsRelocated = Interlocked.Read(ref _relocated),
                FileDeletionFailures = _reclaimer.Failures + _checkpoints.DeletionFailures,
                Failed = _log.Failure is not null,
            };
        }
    }

    /// <summary>Waits until the dead segment files checkpoints have handed over are deleted (they go at a paced rate, in the background).</summary>
    internal bool WaitForSegmentDeletions(TimeSpan timeout) => _reclaimer.WaitIdle(timeout);

    /// <summary>Writes out everything pending, fsyncs, checkpoints and closes the files.</summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        try
        {
            _log.Dispose();
        }
        finally
        {
            // After the log: its checkpoints are what queue deletions.
            _reclaimer.Dispose();
        }

        lock (_gate)
        {
            foreach (var segment in _segments.All)
            {
                segment.File.Dispose();
            }
        }
    }

    public ValueTask DisposeAsync()
    {
        // Joining the writer thread blocks; keep it off the caller's thread.
        return new ValueTask(Task.Run(Dispose));
    }

    void ILogApplier.Apply(long position, RecordView record, ReadOnlySpan<byte> payload) => _state.Apply(position, record, payload);

    IPreparedCheckpoint ILogApplier.PrepareCheckpoint(long position) => _checkpoints.Prepare(position);

    void ILogApplier.CheckpointWritten()
    {
        if (_options.AutoCompact && Compactor.HasCandidates(_segments, _gate, _options) && Interlocked.CompareExchange(ref _compacting, 1, 0) == 0)
        {
            _ = Task.Run(async () =>
            {
                try
                {
                    await CompactAsync().ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is IOException or ObjectDisposedException)
                {
                    // A failed or closed store reports through its own failure; compaction is retried at the next checkpoint.
                }
                finally
                {
                    Volatile.Write(ref _compacting, 0);
                }
            });
        }
    }

    /// <summary>Appends a relocated copy of a message record (for the compactor). Caller holds the lock.</summary>
    internal ValueTask AppendRelocatedLocked(List<(uint QueueId, long Seq)> targets, ReadOnlySpan<byte> body)
    {
        var destination = _log.BeginRecord(MessagePayload.Size(targets.Count, body.Length), out _);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt16LittleEndian(destination, (ushort)targets.Count);
        for (var i = 0; i < targets.Count; i++)
        {
            MessagePayload.WriteTarget(destination, i, targets[i].QueueId, targets[i].Seq);
        }

        body.CopyTo(destination[MessagePayload.Size(targets.Count, 0)..]);
        return _log.CommitRecord(RecordType.Message, RecordFlags.Relocated, FlushPolicy.Async);
    }

    internal StoreState State => _state;

    private delegate void PayloadWriter<in T>(ref SpanWriter writer, T argument);

    private ValueTask Record<T>(RecordType type, int payloadLength, FlushPolicy? policy, T argument, PayloadWriter<T> write)
    {
        try
        {
            var writer = new SpanWriter(_log.BeginRecord(payloadLength, out _));
            write(ref writer, argument);
            return _log.CommitRecord(type, RecordFlags.None, policy ?? _options.DefaultFlushPolicy);
        }
        catch (Exception ex) when (ex is StorageFailedException or ObjectDisposedException)
        {
            return ValueTask.FromException(ex);
        }
    }

    private async Task<StoredQueue> RedeclareAfter(Task<StoredQueue> pending, string name, FlushPolicy? policy)
    {
#pragma warning disable VSTHRD003 // The task is CompleteDeclare's, started by this store; there is no context to deadlock on.
        await pending.ConfigureAwait(false);
#pragma warning restore VSTHRD003
        return await DeclareQueueAsync(name, policy).ConfigureAwait(false);
    }

    /// <summary>A checkpoint begins with an fsync of everything written, the queue's record included.</summary>
    private async Task<StoredQueue> SyncedDeclare(StoredQueue queue)
    {
        await _log.RequestCheckpoint().ConfigureAwait(false);
        return queue;
    }

    private async Task<StoredQueue> CompleteDeclare(string name, uint id, ValueTask written)
    {
        try
        {
            await written;
            lock (_gate)
            {
                return _state.QueuesById[id];
            }
        }
        finally
        {
            lock (_gate)
            {
                _pendingDeclares.Remove(name);
            }
        }
    }

    private static bool Accepts(StoredQueue queue) => !queue.IsDeleted && !queue.Deleting;

    private static bool TryTakeReady(StoredQueue queue, out long seq)
    {
        var window = queue.Entries;
        for (seq = Math.Max(queue.ReadyCursor, window.Head); seq < window.Next; seq++)
        {
            ref var entry = ref window[seq];
            if (entry.State == EntryState.Ready)
            {
                entry.State = EntryState.Delivered;
                queue.ReadyCount--;
                queue.ReadyCursor = seq + 1;
                return true;
            }
        }

        queue.ReadyCursor = window.Next;
        return false;
    }

    /// <summary>Checks a record read for (<paramref name="queue"/>, <paramref name="seq"/>): intact, a message, addressed to it; where its body lies in <paramref name="record"/>.</summary>
    private bool TryFindBody(ReadOnlySpan<byte> record, long position, StoredQueue queue, long seq, out int bodyStart, out int bodyLength)
    {
        bodyStart = bodyLength = 0;
        if (!RecordFormat.TryDecode(record, _options.MaxRecordPayloadBytes, position, out var view)
            || view.Type != RecordType.Message
            || !MessagePayload.TryFindBody(record.Slice(view.HeaderSize, view.PayloadLength), view.Flags, queue.Id, seq, out var bodyOffset))
        {
            return false;
        }

        bodyStart = view.HeaderSize + bodyOffset;
        bodyLength = view.PayloadLength - bodyOffset;
        return true;
    }

    /// <summary>Reads and verifies an entry's record. Null when it is corrupt (then written off) or no longer live.</summary>
    private StoredMessage? Read(StoredQueue queue, long seq, QueueEntry entry)
    {
        for (var attempt = 0; attempt < 3; attempt++)
        {
            var buffer = ArrayPool<byte>.Shared.Rent(entry.Length);
            var ok = entry.Position >= 0 && _log.TryRead(entry.Position, buffer.AsSpan(0, entry.Length));
            if (ok && TryFindBody(buffer.AsSpan(0, entry.Length), entry.Position, queue, seq, out var bodyStart, out var bodyLength))
            {
                return new StoredMessage(seq, entry.DeliveryCount, buffer, bodyStart, bodyLength);
            }

            ArrayPool<byte>.Shared.Return(buffer);
            lock (_gate)
            {
                if (queue.IsDeleted || !queue.Entries.Contains(seq) || !queue.Entries[seq].IsLive)
                {
                    return null;
                }

                var current = queue.Entries[seq];
                if (current.Position != entry.Position && attempt < 2)
                {
                    entry = current; // Compaction moved it between the lookup and the read.
                    continue;
                }

                _state.AckEntry(queue, seq);
                queue.Entries.TrimAcked();
            }

            Interlocked.Increment(ref _corruptSkipped);
            ReportCorruption(new CorruptionReport(entry.Position, entry.Length, $"message {seq} of queue '{queue.Name}' failed its CRC or length check; skipped, never delivered"));
            return null;
        }

        return null;
    }

    /// <summary>
    /// Tells <see cref="StoreOptions.OnCorruption"/>, containing what it throws: the record is already written off and
    /// counted (<see cref="StoreStatistics.CorruptRecordsSkipped"/>), and a reader that called in for the next message
    /// must get it, not the callback's exception.
    /// </summary>
    private void ReportCorruption(CorruptionReport report)
    {
        try
        {
            _options.OnCorruption?.Invoke(report);
        }
#pragma warning disable CA1031 // A caller's callback; its failure must not fail the read that found the damage.
        catch (Exception)
#pragma warning restore CA1031
        {
        }
    }
}
