namespace Holdfast.Storage.Log;

/// <summary>What the commit log tells the store about records once their fate is known.</summary>
internal interface ILogApplier
{
    /// <summary>A record has reached the operating system. Called under the store's lock, in log order, once per record.</summary>
    void Apply(long position, RecordView record, ReadOnlySpan<byte> payload);

    /// <summary>
    /// Everything before <paramref name="position"/> is applied and synced: snapshot the state as of
    /// there. On the writer thread between batches, not under the lock, and never while an earlier
    /// prepared checkpoint is still unwritten.
    /// </summary>
    IPreparedCheckpoint PrepareCheckpoint(long position);

    /// <summary>A checkpoint has been written and stands (on the checkpoint thread, not under the lock).</summary>
    void CheckpointWritten();
}
