namespace Holdfast.Testing;

/// <summary>File-level helpers for tests that work on a store's files directly (crash images, fixtures, damage).</summary>
public static class StoreDirectory
{
    /// <summary>
    /// Copies every file under <paramref name="source"/>. Taken while a store is open, after its Sync
    /// appends completed, this is the image a crash at that moment leaves behind: no close, no final checkpoint.
    /// A file deleted while the copy runs (a dead segment the store is reclaiming in the background) is left out,
    /// or copied cut short, as a crash after or during its deletion would leave it.
    /// </summary>
    public static void Copy(string source, string destination)
    {
        Directory.CreateDirectory(destination);
        foreach (var directory in Directory.GetDirectories(source, "*", SearchOption.AllDirectories))
        {
            Directory.CreateDirectory(Path.Combine(destination, Path.GetRelativePath(source, directory)));
        }

        foreach (var file in Directory.GetFiles(source, "*", SearchOption.AllDirectories))
        {
            try
            {
                File.Copy(file, Path.Combine(destination, Path.GetRelativePath(source, file)), overwrite: true);
            }
            catch (FileNotFoundException)
            {
                // Deleted since the listing.
            }
        }
    }

    /// <summary>The commit log's segment files, oldest first.</summary>
    public static IReadOnlyList<string> Segments(string storeDirectory) =>
        [.. Directory.GetFiles(Path.Combine(storeDirectory, "log"), "*.seg").Order(StringComparer.Ordinal)];

    /// <summary>Finds the segment file and offset where <paramref name="marker"/> occurs (exactly once in the whole log).</summary>
    public static (string Path, long Offset) Find(string storeDirectory, ReadOnlySpan<byte> marker)
    {
        (string, long)? found = null;
        foreach (var segment in Segments(storeDirectory))
        {
            var bytes = File.ReadAllBytes(segment);
            var at = bytes.AsSpan().IndexOf(marker);
            if (at < 0)
            {
                continue;
            }

            if (found is not null || bytes.AsSpan(at + 1).IndexOf(marker) >= 0)
            {
                throw new InvalidOperationException("The marker occurs more than once in the log.");
            }

            found = (segment, at);
        }

        return found ?? throw new InvalidOperationException("The marker does not occur in the log.");
    }

    /// <summary>Inverts one byte of a file in place.</summary>
    public static void FlipByte(string path, long offset)
    {
        using var file = File.Open(path, FileMode.Open, FileAccess.ReadWrite);
        file.Position = offset;
        var value = file.ReadByte();
        file.Position = offset;
        file.WriteByte((byte)~value);
    }
}
