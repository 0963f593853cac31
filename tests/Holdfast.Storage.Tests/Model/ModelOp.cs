namespace Holdfast.Storage.Tests.Model;

/// <summary>
/// One call made on the store. <see cref="Index"/> is the order of issue, which is also the order of
/// the records in the log, because every call appends its record before returning.
/// </summary>
internal sealed class ModelOp(long index, string what, bool syncs, bool writesRecord, Task task)
{
    public long Index { get; } = index;

    public string What { get; } = what;

    /// <summary>Its success means everything issued before it, and itself, is on stable storage (Sync policy, or a checkpoint).</summary>
    public bool Syncs { get; } = syncs;

    /// <summary>It appends a record of its own when called (declare, append, ack, requeue, purge), as opposed to checkpoint or compaction.</summary>
    public bool WritesRecord { get; } = writesRecord;

    public Task Task { get; } = task;

    /// <summary>The store had already failed when it was issued: it must not succeed.</summary>
    public bool IssuedAfterFailure { get; init; }

    public bool Succeeded => Task.IsCompletedSuccessfully;

    public override string ToString() =>
        $"#{Index} {What} [{(Task.IsCompletedSuccessfully ? "ok" : Task.IsFaulted ? "failed" : Task.IsCanceled ? "canceled" : "pending")}]";
}
