namespace Holdfast.Storage.Log;

/// <summary>What the commit log tells the store about records once their fate is known.</summary>
internal interface ILogApplier
{
    /// <summary>A record has reached the operating system. Called under the store's lock, in log order, once per record.</summary>
    void Apply(long position, RecordView record, ReadOnlySpan<byte> payload);

    /// <summary>Everything before <paramref name="position"/> is applied and synced: persist the state. On the writer thread, not under the lock.</summary>
    /// <param name="requested">A caller asked for this checkpoint and waits for it; an automatic one may leave its file deletions to a background task.</param>
    void Checkpoint(long position, bool requested);
}
