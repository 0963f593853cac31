namespace Holdfast.Testing;

/// <summary>
/// What a crash keeps of one file's unsynced writes: the first <see cref="Count"/> of them, in the
/// order they were made, with the last one cut after <see cref="TornAtByte"/> bytes when that is set
/// (a write torn by the power going out). Everything after them is lost.
/// </summary>
public readonly record struct KeptWrites(int Count, int? TornAtByte = null)
{
    public static KeptWrites None => new(0);

    public static KeptWrites All(IReadOnlyList<UnsyncedWrite> writes)
    {
        ArgumentNullException.ThrowIfNull(writes);
        return new(writes.Count);
    }

    /// <summary>
    /// Keeps the first <paramref name="bytes"/> bytes of the writes taken in order, tearing the write
    /// in which that count ends. A SetLength is kept only when bytes remain to be kept after it.
    /// </summary>
    public static KeptWrites FirstBytes(IReadOnlyList<UnsyncedWrite> writes, long bytes)
    {
        ArgumentNullException.ThrowIfNull(writes);
        ArgumentOutOfRangeException.ThrowIfNegative(bytes);
        for (var i = 0; i < writes.Count; i++)
        {
            if (bytes == 0)
            {
                return new(i);
            }

            var write = writes[i];
            if (write.Length > bytes)
            {
                return new(i + 1, (int)bytes);
            }

            bytes -= write.Length;
        }

        return new(writes.Count);
    }
}
