using System.Diagnostics;
using System.Globalization;
using Holdfast.Storage.Devices;
using Holdfast.Storage.Log;
using Holdfast.Storage.Queues;
using Holdfast.Storage.State;

namespace Holdfast.Storage.Recovery;

/// <summary>
/// Opening the store: load the newest checkpoint that verifies, load each queue's entries from its
/// index files, replay the log after the checkpoint (verifying every CRC, truncating a torn tail,
/// skipping and reporting corrupt records), and rebuild from the log any index entry that is missing
/// or damaged. The log writer starts only after this, so nothing is appended to a log not yet understood.
/// </summary>
internal sealed class StoreRecovery(IStorageDevice device, StoreOptions options, SegmentCatalog segments, SpareSegments spares, StoreState state)
{
    private readonly List<string> _warnings = [];
    private readonly List<CorruptionReport> _corrupt = [];
    private readonly List<(StoredQueue Queue, long Seq)> _missing = [];

    public long Generation { get; private set; }

    public long CheckpointPosition { get; private set; }

    public RecoveryReport Run()
    {
        var clock = Stopwatch.StartNew();
        var creating = !device.DirectoryExists(Segment.Directory) || !device.DirectoryExists(QueueIndexFiles.Directory);
        device.CreateDirectory(Segment.Directory);
        device.CreateDirectory(QueueIndexFiles.Directory);
        if (creating)
        {
            // A new directory's name survives a crash only once its parent is synced; without this the
            // first segment, fsynced into log/, could vanish with log/ itself.
            device.SyncDirectory(string.Empty);
        }

        var checkpoint = CheckpointFile.ReadNewest(device, _warnings);
        OpenSegments();
        if (checkpoint is not null)
        {
            LoadCheckpoint(checkpoint);
        }

        var replayFrom = checkpoint?.LogPosition ?? (segments.Count > 0 ? segments.All[0].BasePosition : (long?)null) ?? 0;
        if (checkpoint is null && replayFrom > 0)
        {
            _warnings.Add($"No usable checkpoint, and the log starts at {replayFrom}: acks recorded in reclaimed segments are unknown, so acked messages may reappear.");
        }

        var entriesBefore = state.EntriesApplied;
        var (records, truncated) = Replay(replayFrom);
        var rebuilt = state.EntriesApplied - entriesBefore;
        var lost = RebuildMissingEntries(replayFrom, ref rebuilt);
        ScheduleOrphanedIndexes();

        var logEnd = Math.Max(replayFrom, segments.Last?.EndPosition ?? 0);
        return new RecoveryReport
        {
            CheckpointGeneration = checkpoint?.Generation,
            ReplayedFrom = replayFrom,
            LogEnd = logEnd,
            Segments = segments.Count,
            RecordsRecovered = records,
            BytesTruncated = truncated,
            CorruptRecords = _corrupt,
            IndexEntriesRebuilt = rebuilt,
            MessagesLost = lost,
            Queues = state.QueuesById.Count,
            Messages = state.QueuesById.Values.Sum(q => q.MessageCount),
            Duration = clock.Elapsed,
            Warnings = _warnings,
        };
    }

    private void OpenSegments()
    {
        var bases = new List<long>();
        var names = device.ListFiles(Segment.Directory);
        foreach (var name in names)
        {
            if (Segment.TryParseName(name, out var basePosition))
            {
                bases.Add(basePosition);
            }
        }

        spares.Load(names);
        bases.Sort();
        for (var i = 0; i < bases.Count; i++)
        {
            var basePosition = bases[i];
            var file = device.Open(Segment.PathFor(basePosition), create: false);

            // A closed segment's data ends where the next one begins (a roll starts the next segment at
            // the very position the last record ended); past that, a reused file holds its previous life.
            var end = basePosition + file.Length;
            if (i + 1 < bases.Count)
            {
                end = Math.Min(end, bases[i + 1]);
            }

            segments.Add(new Segment(basePosition, file) { EndPosition = end, Recyclable = BegunByThisFormat(file) });
        }
    }

    private static bool BegunByThisFormat(IStorageFile file)
    {
        Span<byte> header = stackalloc byte[RecordFormat.PeekSize];
        if (file.Length == 0)
        {
            return true;
        }

        return file.Read(0, header) == header.Length
            && RecordFormat.PeekPayloadLength(header, int.MaxValue, out var headerSize) >= 0
            && headerSize == RecordFormat.HeaderSize;
    }

    private void LoadCheckpoint(Checkpoint checkpoint)
    {
        Generation = checkpoint.Generation;
        CheckpointPosition = checkpoint.LogPosition;
        state.NextQueueId = checkpoint.NextQueueId;
        foreach (var (key, value) in checkpoint.Offsets)
        {
            state.Offsets[key] = value;
        }

        foreach (var (key, value) in checkpoint.Metadata)
        {
            state.Metadata[key] = value;
        }

        var index = new QueueIndexFiles(device);
        foreach (var snapshot in checkpoint.Queues)
        {
            var queue = new StoredQueue(snapshot.Id, snapshot.Name);
            state.QueuesById[queue.Id] = queue;
            state.QueuesByName[queue.Name] = queue;
            queue.Entries.Reset(snapshot.Head);
            queue.NextAssigned = snapshot.Next;
            queue.AppliedNext = snapshot.Next;
            queue.IndexDurableNext = snapshot.Next;
            queue.ReadyCursor = snapshot.Head;

            var acked = new AckedSet(snapshot.AckedRanges);
            var counts = snapshot.DeliveryCounts.ToDictionary(c => c.Seq, c => c.Count);
            index.Read(
                queue.Id,
                snapshot.Head,
                snapshot.Next,
                (seq, position, length) =>
                {
                    if (!acked.Contains(seq))
                    {
                        state.Load(queue, seq, Entry(position, length, counts.GetValueOrDefault(seq)));
                    }
                },
                seq =>
                {
                    if (!acked.Contains(seq))
                    {
                        // Placeholder until the log is searched for it; position -1 holds no segment.
                        state.Load(queue, seq, Entry(-1, 0, counts.GetValueOrDefault(seq)));
                        _missing.Add((queue, seq));
                    }
                });
            queue.Entries.AdvanceEmptyTo(snapshot.Next);
        }
    }

    private (long Records, long Truncated) Replay(long replayFrom)
    {
        long records = 0;
        long truncated = 0;
        foreach (var segment in segments.All.ToList())
        {
            if (segment.EndPosition <= replayFrom && segment != segments.Last)
            {
                continue;
            }

            var scan = SegmentScanner.Scan(segment, Math.Max(replayFrom, segment.BasePosition), options.MaxRecordPayloadBytes, state.Apply, options.PageCacheLogBytes);
            records += scan.Records;
            _corrupt.AddRange(scan.Corrupt);
            if (scan.ValidEnd < scan.End)
            {
                // Where anything but zeros ends past the last whole record; a reused file's old life always counts as data.
                var dataEnd = segment == segments.Last && scan.StaleFrom < 0 ? DataEnd(segment, scan.ValidEnd, scan.End) : scan.End;
                if (segment == segments.Last && dataEnd == scan.ValidEnd)
                {
                    // Only zeros follow: blocks the writer prepared ahead of its records. They end the
                    // log as they are; truncating would also give back the rest of the segment's
                    // reserved space, which is what keeps a later append from meeting a full disk.
                }
                else if (segment == segments.Last)
                {
                    // Everything past the last whole record goes. A torn tail: the crash interrupted
                    // this write, so it was never confirmed under Sync. In a reused file, its previous
                    // life too: a disk may write pages out of order, so unsynced records of this life
                    // can sit intact past an old one, and left in place a later open could replay them
                    // (an ack, a purge) over the appends that reuse their sequence numbers.
                    truncated += TornBytes(segment, scan, dataEnd);
                    segment.File.SetLength(scan.ValidEnd - segment.BasePosition);
                    segment.File.Flush();
                }
                else
                {
                    _corrupt.Add(new CorruptionReport(scan.ValidEnd, scan.End - scan.ValidEnd, "unreadable tail of a closed segment"));
                }
            }

            segment.EndPosition = scan.ValidEnd;
        }

        return (records, truncated);
    }

    /// <summary>
    /// Bytes of a record of this life cut short by the crash. Where a reused file's old records follow,
    /// only a record begun at the end of the data counts (its header names that position); otherwise
    /// the data simply ended inside an old record, and nothing was torn.
    /// </summary>
    private long TornBytes(Segment segment, SegmentScan scan, long dataEnd)
    {
        if (scan.StaleFrom < 0)
        {
            return TornRecordBytes(segment, scan.ValidEnd, scan.End, dataEnd, options.MaxRecordPayloadBytes);
        }

        Span<byte> header = stackalloc byte[RecordFormat.HeaderSize];
        var read = segment.File.Read(scan.ValidEnd - segment.BasePosition, header);
        var begunHere = read == header.Length
            && RecordFormat.PeekPayloadLength(header, int.MaxValue, out var headerSize) >= 0
            && NamesAnotherPosition(header, headerSize, scan.ValidEnd) is false;
        return begunHere ? scan.StaleFrom - scan.ValidEnd : 0;
    }

    /// <summary>Whether a whole version 2 header names a position other than <paramref name="position"/>; null for a header without one.</summary>
    private static bool? NamesAnotherPosition(ReadOnlySpan<byte> header, int headerSize, long position) =>
        headerSize == RecordFormat.HeaderSize && header.Length >= headerSize
            ? System.Buffers.Binary.BinaryPrimitives.ReadInt64LittleEndian(header[12..]) != position
            : null;

    /// <summary>
    /// The bytes torn at <paramref name="from"/>, in a file whose space past the data may hold zeros the
    /// writer prepared (<c>CommitLog.PrepareBlocksAhead</c>). None when nothing was begun there (an
    /// all-zero header) or when what is there is not a record of this life (a version 2 header naming
    /// another position). With the header whole: as far as its length reaches, or as far as anything
    /// non-zero reaches (<paramref name="dataEnd"/>) if that is further. With the file ending inside the
    /// header: what is there.
    /// </summary>
    private static long TornRecordBytes(Segment segment, long from, long to, long dataEnd, int maxPayload)
    {
        Span<byte> header = stackalloc byte[RecordFormat.HeaderSize];
        var read = segment.File.Read(from - segment.BasePosition, header[..(int)Math.Min(header.Length, to - from)]);
        header = header[..read];
        if (!header.ContainsAnyExcept((byte)0))
        {
            return 0;
        }

        if (header.Length < RecordFormat.PeekSize)
        {
            return to - from;
        }

        var length = RecordFormat.PeekPayloadLength(header, maxPayload, out var headerSize);
        if (length >= 0 && header.Length < headerSize)
        {
            return to - from;
        }

        if (length >= 0 && NamesAnotherPosition(header, headerSize, from) is true)
        {
            return 0;
        }

        var claimed = length >= 0 ? Math.Min(to - from, RecordFormat.SizeOnDisk(headerSize, length)) : 0;
        return Math.Max(claimed, dataEnd - from);
    }

    /// <summary>Log position just past the last non-zero byte in [from, to), or <paramref name="from"/> when all are zero.</summary>
    private static long DataEnd(Segment segment, long from, long to)
    {
        var buffer = new byte[64 * 1024];
        var end = to;
        while (end > from)
        {
            var start = Math.Max(from, end - buffer.Length);
            var span = buffer.AsSpan(0, (int)(end - start));
            var read = segment.File.Read(start - segment.BasePosition, span);
            var last = span[..read].LastIndexOfAnyExcept((byte)0);
            if (last >= 0)
            {
                return start + last + 1;
            }

            end = start;
        }

        return from;
    }

    /// <summary>Searches the log before the checkpoint for messages whose index entry was damaged.</summary>
    private long RebuildMissingEntries(long replayFrom, ref long rebuilt)
    {
        if (_missing.Count == 0)
        {
            return 0;
        }

        var wanted = _missing.Select(m => (m.Queue.Id, m.Seq)).ToHashSet();
        foreach (var segment in segments.All)
        {
            if (segment.BasePosition >= replayFrom)
            {
                break;
            }

            SegmentScanner.Scan(segment, segment.BasePosition, options.MaxRecordPayloadBytes, (position, record, payload) =>
            {
                if (record.Type != RecordType.Message)
                {
                    return;
                }

                var targets = MessagePayload.ReadTargets(payload, record.Flags, out _);
                foreach (var (queueId, seq) in targets)
                {
                    if (wanted.Contains((queueId, seq)) && state.Find(queueId) is { } queue && queue.Entries.Contains(seq))
                    {
                        ref var entry = ref queue.Entries[seq];
                        if (entry.IsLive)
                        {
                            state.Repoint(ref entry, position, record.SizeOnDisk);
                            if (queue.IndexDurableNext > seq)
                            {
                                queue.Relocated.Add(seq);
                            }
                        }
                    }
                }
            });
        }

        long lost = 0;
        foreach (var (queue, seq) in _missing)
        {
            if (queue.IsDeleted || !queue.Entries.Contains(seq))
            {
                continue;
            }

            ref var entry = ref queue.Entries[seq];
            if (entry.IsLive && entry.Position < 0)
            {
                state.AckEntry(queue, seq);
                lost++;
                _corrupt.Add(new CorruptionReport(-1, 0, $"no intact record for message {seq} of queue '{queue.Name}': its index entry and log record are both damaged"));
            }
            else if (entry.IsLive)
            {
                rebuilt++;
            }
        }

        foreach (var queue in state.QueuesById.Values)
        {
            queue.Entries.TrimAcked();
        }

        return lost;
    }

    /// <summary>
    /// Index directories of queues that no longer exist: a crash between the checkpoint that decided a
    /// deleted queue's removal and the one that carries it out leaves them behind, and nothing else
    /// would ever remove them. They take the same two-checkpoint path as a queue deleted now.
    /// </summary>
    private void ScheduleOrphanedIndexes()
    {
        foreach (var name in device.ListDirectories(QueueIndexFiles.Directory))
        {
            if (uint.TryParse(name, NumberStyles.None, CultureInfo.InvariantCulture, out var id)
                && !state.QueuesById.ContainsKey(id)
                && !state.DeletedQueues.Contains(id))
            {
                state.DeletedQueues.Add(id);
            }
        }
    }

    private static QueueEntry Entry(long position, int length, int deliveryCount) =>
        new() { Position = position, Length = length, DeliveryCount = deliveryCount, State = EntryState.Ready };
}
