namespace Holdfast.Storage.Log;

/// <summary>
/// A checkpoint whose snapshot is taken and whose files are not yet written: the log hands it to its
/// checkpoint thread, which calls exactly one of <see cref="Write"/> or <see cref="Abandon"/>.
/// </summary>
internal interface IPreparedCheckpoint
{
    /// <summary>The log position the snapshot stands for.</summary>
    long Position { get; }

    /// <summary>
    /// Writes and fsyncs the index entries and the checkpoint file, then carries out the previous
    /// checkpoint's deletions. Not under the lock. If it throws, the checkpoint has abandoned itself.
    /// </summary>
    void Write();

    /// <summary>Drops the snapshot unwritten (the store failed first): the next checkpoint redoes its work.</summary>
    void Abandon();
}
