namespace Holdfast.Storage.Log;

/// <summary>What <see cref="RecordFormat.Check"/> found at a position.</summary>
internal enum RecordCheck
{
    /// <summary>A record written at this position, intact.</summary>
    Valid,

    /// <summary>Not an intact record: torn, corrupt, zeros, or the middle of another record.</summary>
    Invalid,

    /// <summary>
    /// An intact record of this file's previous life as another segment: the current data ended before
    /// it, so nothing after it in the file belongs to the log.
    /// </summary>
    Stale,
}
