using Holdfast.Storage.Devices;

namespace Holdfast.Storage.Log;

/// <summary>
/// Dead segment files set aside to become new segments. Reclamation hands them over by renaming the
/// file (<c>log/{old base}.spare</c>); a roll takes one by renaming it to the new segment's name. Only
/// files of this format are kept: their stale records name positions the log has left, so recovery
/// can never mistake them for data (see <see cref="RecordCheck.Stale"/>).
/// Both renames are made durable by the caller's directory sync, like a creation or a deletion.
/// </summary>
internal sealed class SpareSegments(IStorageDevice device, int capacity)
{
    public const string Extension = ".spare";

    private readonly Lock _lock = new();
    private readonly Stack<string> _paths = [];
    private long _reused;

    public long Reused => Interlocked.Read(ref _reused);

    public int Count
    {
        get
        {
            lock (_lock)
            {
                return _paths.Count;
            }
        }
    }

    /// <summary>Takes in the spares found in the log directory at open; those beyond capacity are deleted.</summary>
    public void Load(IEnumerable<string> names)
    {
        foreach (var name in names.Where(n => n.EndsWith(Extension, StringComparison.Ordinal)).Order(StringComparer.Ordinal))
        {
            var path = $"{Segment.Directory}/{name}";
            if (_paths.Count < capacity)
            {
                _paths.Push(path);
            }
            else
            {
                device.DeleteFile(path);
            }
        }
    }

    /// <summary>Keeps a dead segment's file (already closed) as a spare if it may be reused and there is room; false when the caller should delete it.</summary>
    public bool TryKeep(Segment segment)
    {
        if (!segment.Recyclable)
        {
            return false;
        }

        var path = Path.ChangeExtension(Segment.PathFor(segment.BasePosition), Extension);
        lock (_lock)
        {
            if (_paths.Count >= capacity)
            {
                return false;
            }

            device.RenameFile(Segment.PathFor(segment.BasePosition), path);
            _paths.Push(path);
            return true;
        }
    }

    /// <summary>Renames a spare to the segment at <paramref name="basePosition"/>; false when there is none.</summary>
    public bool TryTakeAs(long basePosition)
    {
        string path;
        lock (_lock)
        {
            if (!_paths.TryPop(out path!))
            {
                return false;
            }
        }

        device.RenameFile(path, Segment.PathFor(basePosition));
        Interlocked.Increment(ref _reused);
        return true;
    }
}
