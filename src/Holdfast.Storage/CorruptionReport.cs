namespace Holdfast.Storage;

/// <summary>Bytes that failed their check and were skipped, never delivered.</summary>
public readonly record struct CorruptionReport(long Position, long Length, string Reason)
{
    public override string ToString() => $"{Length} corrupt bytes at log position {Position}: {Reason}";
}
