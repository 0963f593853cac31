using System.Buffers;
using System.Globalization;
using Holdfast.Storage.Devices;

namespace Holdfast.Storage.Queues;

/// <summary>
/// A queue's index on disk: files of <see cref="EntriesPerFile"/> fixed-size entries under
/// <c>queues/{id}/</c>, each named by its first sequence number, so the entry for a sequence number is
/// found by arithmetic. Written and fsynced at checkpoints only; between checkpoints the log is the
/// index's journal. A file is deleted once every sequence number in it is acked.
/// </summary>
internal sealed class QueueIndexFiles(IStorageDevice device)
{
    public const int EntriesPerFile = 65536;
    public const string Directory = "queues";

    public static string DirectoryFor(uint queueId) => $"{Directory}/{queueId.ToString("D10", CultureInfo.InvariantCulture)}";

    public static long FileStart(long seq) => seq - (seq % EntriesPerFile);

    public static string PathFor(uint queueId, long fileStart) =>
        $"{DirectoryFor(queueId)}/{fileStart.ToString("D20", CultureInfo.InvariantCulture)}.idx";

    /// <summary>Writes entries (sorted by sequence number) and fsyncs each file touched. Returns the number of files touched.</summary>
    public int Write(uint queueId, ReadOnlySpan<(long Seq, long Position, int Length)> entries)
    {
        if (entries.Length == 0)
        {
            return 0;
        }

        var directory = DirectoryFor(queueId);
        var createdDirectory = !device.DirectoryExists(directory);
        if (createdDirectory)
        {
            device.CreateDirectory(directory);
        }

        int files;
        bool createdFile;
        var buffer = ArrayPool<byte>.Shared.Rent(Math.Min(entries.Length, EntriesPerFile) * IndexEntryFormat.Size);
        try
        {
            files = WriteFiles(queueId, entries, buffer, out createdFile);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }

        if (createdFile)
        {
            device.SyncDirectory(directory);
        }

        if (createdDirectory)
        {
            device.SyncDirectory(Directory);
        }

        return files;
    }

    private int WriteFiles(uint queueId, ReadOnlySpan<(long Seq, long Position, int Length)> entries, byte[] buffer, out bool createdFile)
    {
        var files = 0;
        createdFile = false;
        var i = 0;
        while (i < entries.Length)
        {
            var start = FileStart(entries[i].Seq);
            var path = PathFor(queueId, start);
            createdFile |= !device.FileExists(path);
            using var file = device.Open(path, create: true);
            files++;
            while (i < entries.Length && FileStart(entries[i].Seq) == start)
            {
                // Consecutive sequence numbers go out in one write; a gap (acked entries) starts a new run.
                var runStart = entries[i].Seq;
                var count = 0;
                while (i < entries.Length && entries[i].Seq == runStart + count && FileStart(entries[i].Seq) == start)
                {
                    var (seq, position, length) = entries[i];
                    IndexEntryFormat.Write(buffer.AsSpan(count * IndexEntryFormat.Size), seq, position, length);
                    count++;
                    i++;
                }

                file.Write((runStart - start) * IndexEntryFormat.Size, buffer.AsSpan(0, count * IndexEntryFormat.Size));
            }

            file.Flush();
        }

        return files;
    }

    /// <summary>Reads the entries for [<paramref name="from"/>, <paramref name="to"/>); <paramref name="found"/> gets each valid one, <paramref name="missing"/> each absent or damaged one.</summary>
    public void Read(uint queueId, long from, long to, Action<long, long, int> found, Action<long> missing)
    {
        var buffer = new byte[EntriesPerFile * IndexEntryFormat.Size];
        var seq = from;
        while (seq < to)
        {
            var start = FileStart(seq);
            var end = Math.Min(to, start + EntriesPerFile);
            var path = PathFor(queueId, start);
            var available = 0;
            if (device.FileExists(path))
            {
                using var file = device.Open(path, create: false);
                available = file.Read((seq - start) * IndexEntryFormat.Size, buffer.AsSpan(0, (int)(end - seq) * IndexEntryFormat.Size));
            }

            for (var s = seq; s < end; s++)
            {
                var offset = (int)(s - seq) * IndexEntryFormat.Size;
                if (offset + IndexEntryFormat.Size <= available
                    && IndexEntryFormat.TryRead(buffer.AsSpan(offset, IndexEntryFormat.Size), s, out var position, out var length))
                {
                    found(s, position, length);
                }
                else
                {
                    missing(s);
                }
            }

            seq = end;
        }
    }

    /// <summary>Index files wholly below <paramref name="head"/>: nothing in them is needed any more.</summary>
    public IEnumerable<string> FilesBelow(uint queueId, long head)
    {
        foreach (var name in device.ListFiles(DirectoryFor(queueId)))
        {
            if (name.EndsWith(".idx", StringComparison.Ordinal)
                && long.TryParse(name.AsSpan(0, name.Length - 4), NumberStyles.None, CultureInfo.InvariantCulture, out var start)
                && start + EntriesPerFile <= head)
            {
                yield return $"{DirectoryFor(queueId)}/{name}";
            }
        }
    }
}
