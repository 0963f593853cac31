using System.Globalization;
using Holdfast.Storage.Tests.Faults;
using Holdfast.Testing;

namespace Holdfast.Storage.Tests.Model;

/// <summary>
/// One seeded run: random calls on a store over a <see cref="FaultyDevice"/>, random crashes (with
/// random torn tails) and reopens, each reopened store checked against a small model of what was
/// confirmed. Calls are issued from one task, so the order of issue is the order of the log; each is
/// awaited at once or left in flight, so crashes land with work in every stage.
/// <para>
/// What the model demands after a crash. Let D be the last call issued whose success implies an
/// fsync (a Sync-policy record, or a checkpoint) and that succeeded: every record issued up to D, bar
/// those whose call failed (refused for a full disk, and cut back), is on disk. So a message appended
/// up to D is present exactly once unless some ack or purge of it was issued (in flight or not: that
/// one may have reached the disk); a message whose ack or purge was issued up to D, and did not fail,
/// is absent; its delivery count lies between the requeues that did so and all requeues issued.
/// Anything after D (Async, Interval, in flight, failed) may be there or not, but never twice, and
/// nothing the model never appended may appear. A reopened store's contents then become the model's
/// new starting point.
/// <para>
/// A crash alone never damages a record. After a failed log fsync it may: the kernel dropped that
/// fsync's pages while the writer may already have written the next batch, whose pages can still reach
/// the disk, so recovery finds a damaged region with records after it. It may report that region, but
/// everything the rules above demand must still hold, so the region cannot hold anything confirmed.
/// </para>
/// <para>
/// Faults besides crashes: a failed log fsync (the store must then fail every later call), and a
/// full disk (calls may fail with <see cref="DiskFullException"/> until space is freed, and the store
/// must not fail).
/// </para>
/// </summary>
internal sealed class ModelRun
{
    private const int QueueNames = 4;
    private const int TraceLines = 80;
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    private readonly Random _random;
    private readonly int _steps;
    private readonly StoreOptions _options;
    private readonly SortedDictionary<string, ModelQueue> _queues = new(StringComparer.Ordinal);
    private readonly List<ModelOp> _ops = [];
    private readonly List<ModelOp> _inFlight = [];
    private readonly Queue<string> _trace = new();
    private FaultyDevice _device = new();
    private MessageStore? _store;
    private long _nextOp;
    private int _nextId;
    private int _step;
    private int _reopens;
    private bool _faultInjected;

    // The device's failed fsyncs when the first fault of this life was injected: more at a crash, and one fired.
    private long _failedFsyncsBefore = long.MaxValue;
    private int _crashAtStep = int.MaxValue;

    // Holes a failed fsync left in the log (their positions), found by a recovery. They stay on disk until a checkpoint
    // moves replay past them, so a crash before that finds them again: those, and only those, a later recovery may report.
    private readonly HashSet<long> _holesFromFailedFsyncs = [];

    // An fsync held for a few steps (a slow disk), so calls keep coming while it runs: for the log's,
    // the writer writes on beside the syncer's fsync; for an index file's or the checkpoint file's, the
    // writer appends, applies acks and relocations beside a checkpoint being written. A crash or an
    // injected fsync failure can land inside either.
    private FsyncStall? _slowFsync;
    private int _slowFsyncUntilStep;

    // Calls issued before this index may fail with DiskFullException: the disk was full while they
    // were pending. long.MinValue: not full since the store was opened; long.MaxValue: full now.
    private long _diskFullBefore = long.MinValue;

    // First call issued while the disk was last made full: with _diskFullBefore, the calls that met it.
    private long _diskFullSince = long.MinValue;

    public ModelRun(int seed, int steps)
    {
        _random = new Random(seed);
        _steps = steps;
        _options = new StoreOptions
        {
            SegmentSizeBytes = 4096 << _random.Next(3),
            CheckpointEveryBytes = 2048 << _random.Next(4),
            AutoCompact = false,
            CompactBelowLiveFraction = 0.5 + (_random.NextDouble() * 0.4),
            DefaultFlushPolicy = _random.Next(3) == 0 ? FlushPolicy.Async : FlushPolicy.Sync,

            // Mostly lower than the default, so that the syncer takes most fsyncs (0: all, 1: whenever
            // anything is pending) and the writer writes beside them.
            SyncHandOffBytes = _random.Next(4) switch { 0 => 64 * 1024, 1 => 1, _ => 0 },

            // Zeros written ahead of the log's end, in chunks smaller than, or as large as, a segment.
            PrepareAheadBytes = _random.Next(3) switch { 0 => 0, 1 => 1024, _ => 1 << 20 },
        };
    }

    public int Reopens => _reopens;

    /// <summary>How much of the engine the run reached (summed over its store instances).</summary>
    public ModelCoverage Coverage { get; } = new();

    public long Operations => _nextOp;

    private MessageStore Store => _store ?? throw new InvalidOperationException("The store is not open.");

    public async Task RunAsync()
    {
        try
        {
            _store = await MessageStore.OpenAsync(_options with { Device = _device });
            for (_step = 0; _step < _steps; _step++)
            {
                await StepAsync();
            }

            await CrashAndVerifyAsync();
        }
        catch (Exception ex) when (ex is not ModelViolationException)
        {
            throw Violation($"unexpected {ex.GetType().Name}: {ex}");
        }
        finally
        {
            ReleaseSlowFsync();
            if (_store is not null)
            {
                await _store.DisposeAsync();
            }
        }
    }

    private async Task StepAsync()
    {
        if (_step >= _crashAtStep)
        {
            await CrashAndVerifyAsync();
            return;
        }

        if (Store.Failure is { } failure && !_faultInjected)
        {
            throw Violation($"the store failed with no fsync fault injected: {failure}");
        }

        if (_slowFsync is not null && _step >= _slowFsyncUntilStep)
        {
            ReleaseSlowFsync();
        }

        var roll = _random.Next(1000);
        switch (roll)
        {
            case < 20:
                await CrashAndVerifyAsync();
                break;
            case < 23:
                InjectFailedFsync();
                break;
            case < 33:
                FillOrFreeDisk();
                break;
            case < 45:
                SlowTheNextFsync();
                break;
            case < 60:
                await SettleAllAsync();
                break;
            case < 95:
                await DeclareAsync();
                break;
            case < 100:
                await DeleteAsync();
                break;
            case < 130:
                await IssueAsync(Store.CheckpointAsync, "checkpoint", syncs: true, writesRecord: false);
                break;
            case < 150:
                await IssueAsync(Store.CompactAsync, "compact", syncs: false, writesRecord: false);
                break;
            case < 175:
                await PurgeAsync();
                break;
            case < 260:
                await RequeueAsync();
                break;
            case < 420:
                await AckAsync();
                break;
            case < 640:
                Read();
                break;
            default:
                await AppendAsync();
                break;
        }
    }

    // ----- Operations -----

    private async Task DeclareAsync()
    {
        var name = $"q{_random.Next(QueueNames)}";
        if (!_queues.TryGetValue(name, out var queue))
        {
            queue = new ModelQueue(name);
            _queues[name] = queue;
        }

        if (queue.Handle is not null || queue.Delete is not null)
        {
            return;
        }

        var policy = RandomPolicy();
        var failedBefore = StoreFailed;
        var task = Store.DeclareQueueAsync(name, policy);
        var op = Register(task, failedBefore, $"declare {name} {Describe(policy)}", Syncs(policy), writesRecord: true);
        queue.Declare = op;

        // Appends need the handle: a declare is always awaited.
        await SettleAsync(op);
        if (op.Succeeded)
        {
            queue.Handle = await task;
        }
    }

    private async Task DeleteAsync()
    {
        var queue = RandomOpenQueue();
        if (queue is null)
        {
            return;
        }

        var policy = RandomPolicy();
        var failedBefore = StoreFailed;
        var task = Store.DeleteQueueAsync(queue.Handle!, policy).AsTask();
        var op = Register(task, failedBefore, $"delete {queue.Name} {Describe(policy)}", Syncs(policy), writesRecord: true);
        queue.Delete = op;
        queue.Handle = null;
        await MaybeSettleAsync(op);
    }

    private async Task AppendAsync()
    {
        var open = _queues.Values.Where(q => q.Handle is not null).ToList();
        if (open.Count == 0)
        {
            await DeclareAsync();
            return;
        }

        var targets = open.OrderBy(_ => _random.Next()).Take(_random.Next(5) == 0 ? _random.Next(1, open.Count + 1) : 1).ToList();
        var id = _nextId++;
        var length = _random.Next(20) switch
        {
            0 => _random.Next(1500, 6000),
            < 5 => _random.Next(200, 1500),
            _ => _random.Next(4, 200),
        };
        var policy = RandomPolicy();
        var seqs = new long[targets.Count];
        var failedBefore = StoreFailed;
        var task = Store.AppendAsync([.. targets.Select(q => q.Handle!)], TestPayload.Make(id, length), seqs, policy).AsTask();
        var op = Register(task, failedBefore, $"append {id} ({length} bytes) to {string.Join("+", targets.Select(q => q.Name))} {Describe(policy)}", Syncs(policy), writesRecord: true);
        for (var i = 0; i < targets.Count; i++)
        {
            if (seqs[i] < 0)
            {
                throw Violation($"append {id} got no sequence number in live queue {targets[i].Name}");
            }

            targets[i].Copies[id] = new ModelCopy(id, seqs[i], op);
        }

        await MaybeSettleAsync(op);
    }

    private void Read()
    {
        var queue = RandomOpenQueue();
        if (queue is null)
        {
            return;
        }

        // What is certain must be taken before the call: states only move forward while it runs.
        var certainlyReady = queue.Copies.Values.Where(CertainlyReady).Select(c => c.Id).ToList();
        var removed = queue.Copies.Values.Where(c => c.Removals.Any(r => r.Certain && r.Op.Succeeded)).Select(c => c.Id).ToHashSet();
        var leastCount = queue.Copies.Values.ToDictionary(c => c.Id, c => c.BaseDeliveryCount + c.Requeues.Count(r => r.Succeeded));

        if (!Store.TryReadNext(queue.Handle!, out var message))
        {
            if (certainlyReady.Count > 0 && !_faultInjected)
            {
                throw Violation($"{queue.Name}: nothing delivered, yet {queue.Copies[certainlyReady[0]].History()} is certainly ready");
            }

            return;
        }

        using (message)
        {
            int id;
            try
            {
                id = TestPayload.Id(message!.Payload.Span);
            }
            catch (InvalidDataException ex)
            {
                throw Violation($"{queue.Name} delivered a damaged body at seq {message!.Seq}: {ex.Message}");
            }

            Note($"read {queue.Name}: {id} seq {message.Seq} count {message.DeliveryCount}");
            if (!queue.Copies.TryGetValue(id, out var copy))
            {
                throw Violation($"{queue.Name} delivered message {id}, which it does not hold (never appended there, or gone)");
            }

            if (message.Seq != copy.Seq)
            {
                throw Violation($"{queue.Name} delivered {copy.History()} under seq {message.Seq}");
            }

            if (copy.Delivered || copy.Ack is not null)
            {
                throw Violation($"{queue.Name} delivered {copy.History()} again while it was delivered and unacked or acked");
            }

            if (removed.Contains(id))
            {
                throw Violation($"{queue.Name} delivered {copy.History()} after its ack or purge completed");
            }

            var most = copy.BaseDeliveryCount + copy.Requeues.Count;
            if (message.DeliveryCount < leastCount[id] || message.DeliveryCount > most)
            {
                throw Violation($"{queue.Name} delivered {copy.History()} with delivery count {message.DeliveryCount}, outside [{leastCount[id]}, {most}]");
            }

            copy.Delivered = true;
            copy.PendingRequeue = null;
        }
    }

    private async Task AckAsync()
    {
        var queue = RandomOpenQueue();
        var delivered = queue?.Copies.Values.Where(c => c.Delivered).OrderBy(_ => _random.Next()).Take(_random.Next(1, 4)).ToList();
        if (queue is null || delivered is null || delivered.Count == 0)
        {
            return;
        }

        var policy = RandomPolicy();
        var failedBefore = StoreFailed;
        var task = Store.AckAsync(queue.Handle!, [.. delivered.Select(c => c.Seq)], policy).AsTask();
        var op = Register(task, failedBefore, $"ack {queue.Name} [{string.Join(",", delivered.Select(c => c.Id))}] {Describe(policy)}", Syncs(policy), writesRecord: true);
        foreach (var copy in delivered)
        {
            copy.Delivered = false;
            copy.Ack = op;
            copy.Removals.Add(new ModelRemoval(op, Certain: true));
        }

        await MaybeSettleAsync(op);
    }

    private async Task RequeueAsync()
    {
        var queue = RandomOpenQueue();
        var copy = queue?.Copies.Values.Where(c => c.Delivered).OrderBy(_ => _random.Next()).FirstOrDefault();
        if (queue is null || copy is null)
        {
            return;
        }

        var policy = RandomPolicy();
        var failedBefore = StoreFailed;
        var task = Store.RequeueAsync(queue.Handle!, copy.Seq, policy).AsTask();
        var op = Register(task, failedBefore, $"requeue {queue.Name} {copy.Id} {Describe(policy)}", Syncs(policy), writesRecord: true);
        copy.Delivered = false;
        copy.PendingRequeue = op;
        copy.Requeues.Add(op);
        await MaybeSettleAsync(op);
    }

    private async Task PurgeAsync()
    {
        var queue = RandomOpenQueue();
        if (queue is null)
        {
            return;
        }

        // The store keeps what is delivered at the moment of the call. A message whose requeue is in
        // flight may or may not be delivered still, so the purge only may cover it.
        var covered = new List<(ModelCopy Copy, bool Certain)>();
        foreach (var copy in queue.Copies.Values)
        {
            if (copy.Delivered || copy.Ack is not null)
            {
                continue;
            }

            covered.Add((copy, copy.PendingRequeue is null || copy.PendingRequeue.Succeeded));
        }

        var policy = RandomPolicy();
        var failedBefore = StoreFailed;
        var task = Store.PurgeAsync(queue.Handle!, policy).AsTask();
        var op = Register(task, failedBefore, $"purge {queue.Name} {Describe(policy)}", Syncs(policy), writesRecord: true);
        foreach (var (copy, certain) in covered)
        {
            copy.Removals.Add(new ModelRemoval(op, certain));
        }

        await MaybeSettleAsync(op);
    }

    private void InjectFailedFsync()
    {
        _failedFsyncsBefore = Math.Min(_failedFsyncsBefore, _device.FailedFsyncs);
        _device.FailNextFsync("log/");
        _faultInjected = true;
        _crashAtStep = Math.Min(_crashAtStep, _step + _random.Next(3, 30));
        Note("fault: the next log fsync fails");
    }

    private void SlowTheNextFsync()
    {
        if (_slowFsync is not null)
        {
            return;
        }

        var prefix = _random.Next(3) switch
        {
            0 => "queues/",
            1 => "checkpoint.",
            _ => "log/",
        };
        _slowFsync = _device.StallNextFsync(prefix);
        _slowFsyncUntilStep = _step + _random.Next(1, 12);
        Note($"the next fsync of {prefix} is slow");
    }

    /// <summary>Ends the slow fsync; called before the model waits on anything, which could be waiting on it.</summary>
    private void ReleaseSlowFsync()
    {
        if (_slowFsync is null)
        {
            return;
        }

        var prefix = _slowFsync.PathPrefix;
        Note(_slowFsync.WasHeld ? $"the slow fsync of {prefix} ends" : $"no fsync of {prefix} began while it was to be slow");
        if (_slowFsync.WasHeld && prefix != "log/")
        {
            Coverage.CheckpointWritesHeld++;
        }

        _slowFsync.Release();
        _slowFsync = null;
    }

    private void FillOrFreeDisk()
    {
        if (_diskFullBefore == long.MaxValue)
        {
            _device.CapacityBytes = long.MaxValue;
            _diskFullBefore = _nextOp;
            Note("disk space freed");
        }
        else
        {
            // Room for a little more than nothing: partial writes, refused preallocations and checkpoints.
            _device.CapacityBytes = _device.UsedBytes + _random.Next(0, (int)_options.SegmentSizeBytes * 2);
            _diskFullBefore = long.MaxValue;
            _diskFullSince = _nextOp;
            Note($"disk full at {_device.CapacityBytes} bytes");
        }
    }

    // ----- Crash, reopen, verify -----

    private async Task CrashAndVerifyAsync()
    {
        if (_random.Next(2) == 0)
        {
            await SettleAllAsync();
        }

        if (_random.Next(3) == 0)
        {
            await HoldAnFsyncAsync();
        }

        Coverage.Add(Store.GetStatistics());
        // Judged by the disk, not by the store: an fsync that failed a moment ago may not have reached
        // the store's failure state yet, while the writer may already have written past its dropped pages.
        var failedByFsync = _device.FailedFsyncs > _failedFsyncsBefore;
        var survivor = _device.Crash(_random);

        // The crash ended it.
        _slowFsync = null;
        Note($"crash #{_reopens + 1} with {_inFlight.Count(o => !o.Task.IsCompleted)} calls in flight");

        // The old store's writer meets the retired view and fails whatever was still pending.
        await Store.DisposeAsync();
        _store = null;
        foreach (var op in _inFlight)
        {
            await WaitQuietlyAsync(op);
        }

        _inFlight.Clear();
        Coverage.CallsRefusedForSpace += _ops.Count(FailedForSpace);
        var durable = _ops.Where(o => o.Syncs && o.Succeeded).Select(o => o.Index).DefaultIfEmpty(-1).Max();
        if (_ops.FirstOrDefault(o => o.WritesRecord && o.Index < durable && o.Task.IsFaulted && !FailedForSpace(o)) is { } failed)
        {
            throw Violation($"{failed} failed although #{durable}, issued after it, succeeded with an fsync");
        }

        _device = survivor;
        if (_diskFullBefore == long.MaxValue && _random.Next(2) == 0)
        {
            _device.CapacityBytes = long.MaxValue;
            Note("disk space freed before reopening");
        }

        _store = await MessageStore.OpenAsync(_options with { Device = _device });
        _reopens++;
        Coverage.Add(Store.Recovery);
        Note($"reopened: {Store.Recovery}; durable up to #{durable}");
        Verify(durable, failedByFsync);
        _ops.Clear();
        _faultInjected = false;
        _failedFsyncsBefore = long.MaxValue;
        _crashAtStep = int.MaxValue;
        _diskFullBefore = _device.CapacityBytes == long.MaxValue ? long.MinValue : long.MaxValue;
    }

    /// <summary>
    /// Starts a checkpoint and holds the writer inside one of its fsyncs (the log's, an index file's or
    /// the checkpoint file's), so the crash that follows tears what that fsync would have made durable.
    /// </summary>
    private async Task HoldAnFsyncAsync()
    {
        if (_slowFsync is { WasHeld: true })
        {
            Note($"crashing inside the slow fsync of {_slowFsync.PathPrefix}");
            return;
        }

        ReleaseSlowFsync();
        var prefix = _random.Next(3) switch
        {
            0 => "log/",
            1 => "queues/",
            _ => "checkpoint.",
        };
        var stall = _device.StallNextFsync(prefix);
        var failedBefore = StoreFailed;
        var op = Register(Store.CheckpointAsync(), failedBefore, $"checkpoint, to crash inside its fsync of {prefix}", syncs: true, writesRecord: false);
        _inFlight.Add(op);

        // The checkpoint may need no such fsync (no index entries to write, or a failed store): then the crash is an ordinary one.
        await Task.WhenAny(stall.WaitUntilHeldAsync(Patience), op.Task.WaitAsync(Patience));
        Note(stall.WasHeld ? $"writer held inside an fsync of {prefix}" : "no fsync held");
    }

    private void Verify(long durable, bool failedByFsync)
    {
        var recovery = Store.Recovery;
        var newHoles = recovery.CorruptRecords.Where(c => !_holesFromFailedFsyncs.Contains(c.Position)).ToList();
        if (recovery.MessagesLost > 0 || (newHoles.Count > 0 && !failedByFsync))
        {
            throw Violation($"a crash alone damaged records: {recovery}; {string.Join("; ", newHoles)}");
        }

        if (newHoles.Count > 0)
        {
            Coverage.HolesAfterFailedFsync++;
            _holesFromFailedFsyncs.UnionWith(newHoles.Select(c => c.Position));
        }

        foreach (var stored in Store.Queues)
        {
            if (!_queues.TryGetValue(stored.Name, out var known) || (!known.OnDisk && known.Declare is null))
            {
                throw Violation($"queue {stored.Name} exists but was never declared");
            }
        }

        foreach (var queue in _queues.Values)
        {
            var handle = Store.FindQueue(queue.Name);

            // A delete issued may have reached the disk whatever became of its call (the log keeps
            // what was written before a failure); one issued up to the last fsync that succeeded did.
            var delete = queue.Delete;
            queue.Delete = null;
            var mustExist = delete is null && (queue.OnDisk || (queue.Declare is { } declare && declare.Index <= durable && !declare.Task.IsFaulted));
            if (handle is null)
            {
                if (mustExist)
                {
                    throw Violation($"queue {queue.Name} was lost (declared by {queue.Declare?.ToString() ?? "an earlier store"})");
                }

                foreach (var copy in queue.Copies.Values.Where(c => delete is null && MustBePresent(c, durable)))
                {
                    throw Violation($"{queue.Name} is gone with {copy.History()}, which had to survive");
                }

                Coverage.QueuesDeletedAcrossCrash += delete is null ? 0 : 1;
                queue.Copies.Clear();
                queue.Handle = null;
                queue.Declare = null;
                queue.OnDisk = false;
                continue;
            }

            if (delete is not null && delete.Index <= durable && !delete.Task.IsFaulted)
            {
                throw Violation($"queue {queue.Name} is back although {delete} was on disk");
            }

            queue.Handle = handle;
            queue.Declare = null;
            queue.OnDisk = true;
            VerifyQueue(queue, durable);
        }
    }

    private void VerifyQueue(ModelQueue queue, long durable)
    {
        List<(long Seq, int Id, int DeliveryCount)> found;
        try
        {
            found = StoreContents.Messages(Store, queue.Name);
        }
        catch (InvalidDataException ex)
        {
            throw Violation($"{queue.Name} after reopening: {ex.Message}");
        }

        var seen = new Dictionary<int, (long Seq, int DeliveryCount)>();
        foreach (var (seq, id, count) in found)
        {
            if (!seen.TryAdd(id, (seq, count)))
            {
                throw Violation($"{queue.Name} holds message {id} twice (seqs {seen[id].Seq} and {seq})");
            }

            if (!queue.Copies.TryGetValue(id, out var copy))
            {
                throw Violation($"{queue.Name} holds message {id} at seq {seq}, which was never appended there or was already gone");
            }

            var least = copy.BaseDeliveryCount + copy.Requeues.Count(r => r.Index <= durable && !r.Task.IsFaulted);
            var most = copy.BaseDeliveryCount + copy.Requeues.Count;
            if (count < least || count > most)
            {
                throw Violation($"{queue.Name} holds {copy.History()} with delivery count {count}, outside [{least}, {most}]");
            }
        }

        foreach (var copy in queue.Copies.Values.ToList())
        {
            if (seen.TryGetValue(copy.Id, out var at))
            {
                if (MustBeAbsent(copy, durable))
                {
                    throw Violation($"{queue.Name} still holds {copy.History()}, whose removal was on disk");
                }

                copy.Observed(at.Seq, at.DeliveryCount);
            }
            else
            {
                if (MustBePresent(copy, durable))
                {
                    throw Violation($"{queue.Name} lost {copy.History()}, which had to survive");
                }

                queue.Copies.Remove(copy.Id);
            }
        }
    }

    private static bool MustBePresent(ModelCopy copy, long durable) =>
        (copy.Append is null || (copy.Append.Index <= durable && !copy.Append.Task.IsFaulted)) && copy.Removals.Count == 0;

    private static bool MustBeAbsent(ModelCopy copy, long durable) =>
        copy.Removals.Any(r => r.Certain && r.Op.Index <= durable && !r.Op.Task.IsFaulted);

    private static bool CertainlyReady(ModelCopy copy) =>
        !copy.Delivered
        && copy.Ack is null
        && copy.Removals.Count == 0
        && (copy.Append is null || copy.Append.Succeeded)
        && (copy.PendingRequeue is null || copy.PendingRequeue.Succeeded);

    // ----- Bookkeeping -----

    /// <summary>Records a call just made. <paramref name="failedBefore"/> must be read before making it: the store may fail meanwhile.</summary>
    private ModelOp Register(Task task, bool failedBefore, string what, bool syncs, bool writesRecord)
    {
        var op = new ModelOp(_nextOp++, what, syncs, writesRecord, task) { IssuedAfterFailure = failedBefore };
        _ops.Add(op);
        Note(op.ToString());
        return op;
    }

    private async Task IssueAsync(Func<Task> call, string what, bool syncs, bool writesRecord)
    {
        var failedBefore = StoreFailed;
        await MaybeSettleAsync(Register(call(), failedBefore, what, syncs, writesRecord));
    }

    private bool StoreFailed => Store.Failure is not null;

    private async Task MaybeSettleAsync(ModelOp op)
    {
        if (_random.Next(2) == 0)
        {
            await SettleAsync(op);
        }
        else
        {
            _inFlight.Add(op);
        }
    }

    private async Task SettleAllAsync()
    {
        foreach (var op in _inFlight)
        {
            await SettleAsync(op);
        }

        _inFlight.Clear();
    }

    /// <summary>Waits for a call before any crash; it may fail only when a fault was injected, and must fail when the store had already failed.</summary>
    private async Task SettleAsync(ModelOp op)
    {
        await WaitQuietlyAsync(op);
        if (FailedForSpace(op) && op.Index >= _diskFullBefore && !await SharedAFullDiskFailureAsync())
        {
            throw Violation($"{op} failed for want of space although it was issued after space was freed");
        }

        if (op.Task.IsFaulted && !_faultInjected && !FailedForSpace(op))
        {
            throw Violation($"{op} failed with no fault injected: {op.Task.Exception?.InnerException}");
        }

        if (op.Succeeded && op.IssuedAfterFailure)
        {
            throw Violation($"{op} succeeded although the store had failed before it was issued");
        }
    }

    /// <summary>
    /// The store fails every call queued behind a batch that met the full disk (their log positions
    /// came after it), so a call issued just after space was freed can share the fate of a batch
    /// written just before. That is legitimate only if a call issued while the disk was full failed
    /// for space too.
    /// </summary>
    private async Task<bool> SharedAFullDiskFailureAsync()
    {
        var whileFull = _ops.Where(o => o.Index >= _diskFullSince && o.Index < _diskFullBefore).ToList();
        foreach (var earlier in whileFull)
        {
            await WaitQuietlyAsync(earlier);
        }

        return whileFull.Any(FailedForSpace);
    }

    private async Task WaitQuietlyAsync(ModelOp op)
    {
        ReleaseSlowFsync();
        try
        {
            await op.Task.WaitAsync(Patience);
        }
        catch (TimeoutException)
        {
            throw Violation($"{op} did not complete within {Patience.TotalSeconds} s");
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException)
        {
            // The outcome is read from the task.
        }
    }

    private static bool FailedForSpace(ModelOp op) => op.Task.Exception?.InnerException is DiskFullException;

    private ModelQueue? RandomOpenQueue()
    {
        var open = _queues.Values.Where(q => q.Handle is not null).ToList();
        return open.Count == 0 ? null : open[_random.Next(open.Count)];
    }

    private FlushPolicy? RandomPolicy() => _random.Next(10) switch
    {
        < 4 => FlushPolicy.Sync,
        < 6 => FlushPolicy.Async,
        < 8 => FlushPolicy.Interval(TimeSpan.FromMilliseconds(_random.Next(1, 20)), _random.Next(256, 8192)),
        _ => null,
    };

    private bool Syncs(FlushPolicy? policy) => (policy ?? _options.DefaultFlushPolicy).Kind == FlushKind.Sync;

    private string Describe(FlushPolicy? policy) => policy is null ? $"default {_options.DefaultFlushPolicy}" : policy.ToString();

    private void Note(string line)
    {
        _trace.Enqueue(string.Create(CultureInfo.InvariantCulture, $"[step {_step}, store {_reopens}] {line}"));
        while (_trace.Count > TraceLines)
        {
            _trace.Dequeue();
        }
    }

    private ModelViolationException Violation(string message) =>
        new($"step {_step}, store {_reopens}: {message}\nLast events:\n  {string.Join("\n  ", _trace)}");
}
