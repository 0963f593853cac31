namespace Holdfast.Testing;

/// <summary>
/// A directory's entries, name to <see cref="FaultyInode"/> or <see cref="FaultyDirectory"/>: the
/// current ones, and the durable ones as of the last fsync of this directory. Callers hold the disk's lock.
/// </summary>
internal sealed class FaultyDirectory
{
    public SortedDictionary<string, object> Current { get; private set; } = new(StringComparer.Ordinal);

    public SortedDictionary<string, object> Durable { get; private set; } = new(StringComparer.Ordinal);

    public void Sync() => Durable = new SortedDictionary<string, object>(Current, StringComparer.Ordinal);

    public void Crash() => Current = new SortedDictionary<string, object>(Durable, StringComparer.Ordinal);
}
