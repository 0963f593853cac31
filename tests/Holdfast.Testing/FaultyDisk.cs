using Holdfast.Storage.Devices;

namespace Holdfast.Testing;

/// <summary>
/// The state behind every <see cref="FaultyDevice"/> view of one simulated volume, and the code that
/// changes it. One lock guards it all: the store's writer thread, its readers and the test call in
/// concurrently. The fault model is described on <see cref="FaultyDevice"/>.
/// </summary>
internal sealed class FaultyDisk(long capacityBytes)
{
    /// <summary>EIO, as .NET reports it on Unix in <see cref="Exception.HResult"/>.</summary>
    public const int IoErrorErrno = 5;

    /// <summary>EEXIST, as File.Move without overwrite reports a taken destination on Unix.</summary>
    public const int FileExistsErrno = 17;

    private readonly object _gate = new();
    private readonly FaultyDirectory _root = new();
    private readonly List<(string PathPrefix, int Remaining)> _fsyncFaults = [];
    private readonly List<(string PathPrefix, int Remaining)> _deleteFaults = [];
    private readonly Dictionary<string, long> _fsyncAttempts = new(StringComparer.Ordinal);
    private readonly List<FsyncStall> _stalls = [];
    private long _capacityBytes = capacityBytes;

    public object Gate => _gate;

    public long Generation { get; private set; }

    public long Fsyncs { get; private set; }

    public long DirectorySyncs { get; private set; }

    public long FailedFsyncs { get; private set; }

    public long BytesWritten { get; private set; }

    public long DiskFullErrors { get; private set; }

    public long Crashes { get; private set; }

    public CacheAdvice CacheDrops { get; private set; }

    public CacheAdvice WriteBacks { get; private set; }

    public long BytesRead { get; private set; }

    public long CapacityBytes
    {
        get
        {
            lock (_gate)
            {
                return _capacityBytes;
            }
        }

        set
        {
            ArgumentOutOfRangeException.ThrowIfNegative(value);
            lock (_gate)
            {
                _capacityBytes = value;
            }
        }
    }

    public long UsedBytes
    {
        get
        {
            lock (_gate)
            {
                return Used(_root);
            }
        }
    }

    public void CheckGeneration(long generation, string path)
    {
        if (generation != Generation)
        {
            throw new IOException($"Input/output error : '{path}' (a handle from before simulated crash {generation + 1})", IoErrorErrno);
        }
    }

    // ----- Device operations (each checks that its caller belongs to the current generation) -----

    public FaultyFile Open(long generation, string path, bool create, long preallocateBytes)
    {
        lock (_gate)
        {
            CheckGeneration(generation, path);
            var (parent, name) = ParentOf(path);
            if (parent.Current.TryGetValue(name, out var existing))
            {
                return existing is FaultyInode inode
                    ? new FaultyFile(this, inode, path, generation)
                    : throw new UnauthorizedAccessException($"Access to the path '{path}' is denied: it is a directory.");
            }

            if (!create)
            {
                throw new FileNotFoundException($"Could not find file '{path}'.", path);
            }

            if (preallocateBytes > 0 && preallocateBytes > Free())
            {
                // fallocate fails as a whole, and .NET removes the file it had created.
                DiskFullErrors++;
                throw DiskFull.Create(path);
            }

            var created = new FaultyInode { Allocated = Math.Max(0, preallocateBytes) };
            parent.Current[name] = created;
            return new FaultyFile(this, created, path, generation);
        }
    }

    public bool FileExists(long generation, string path)
    {
        lock (_gate)
        {
            CheckGeneration(generation, path);
            return Find(path) is FaultyInode;
        }
    }

    public bool DirectoryExists(long generation, string path)
    {
        lock (_gate)
        {
            CheckGeneration(generation, path);
            return Find(path) is FaultyDirectory;
        }
    }

    public void CreateDirectory(long generation, string path)
    {
        lock (_gate)
        {
            CheckGeneration(generation, path);
            var directory = _root;
            foreach (var name in Split(path))
            {
                if (!directory.Current.TryGetValue(name, out var child))
                {
                    child = new FaultyDirectory();
                    directory.Current[name] = child;
                }

                directory = child as FaultyDirectory ?? throw new IOException($"Cannot create '{path}': '{name}' is a file.");
            }
        }
    }

    public IReadOnlyList<string> List(long generation, string path, bool directories)
    {
        lock (_gate)
        {
            CheckGeneration(generation, path);
            return Find(path) is FaultyDirectory directory
                ? directory.Current.Where(e => e.Value is FaultyDirectory == directories).Select(e => e.Key).ToArray()
                : [];
        }
    }

    public void DeleteFile(long generation, string path)
    {
        lock (_gate)
        {
            CheckGeneration(generation, path);
            if (TakeFault(_deleteFaults, path))
            {
                throw new IOException($"Input/output error : '{path}' (simulated failed deletion)", IoErrorErrno);
            }

            var (parent, name) = ParentOf(path);
            if (parent.Current.TryGetValue(name, out var existing))
            {
                if (existing is not FaultyInode)
                {
                    throw new UnauthorizedAccessException($"Access to the path '{path}' is denied: it is a directory.");
                }

                parent.Current.Remove(name);
            }
        }
    }

    /// <summary>
    /// rename(2) within one directory: the entry moves at once and atomically, and the inode (durable
    /// image, unsynced writes, allocation and open handles) goes with it. The directory's durable entries
    /// are left alone, so until it is synced a crash brings the old name back and drops the new one.
    /// </summary>
    public void RenameFile(long generation, string sourcePath, string destinationPath)
    {
        lock (_gate)
        {
            CheckGeneration(generation, sourcePath);

            // File.Move's order: a missing (or non-file) source first, then the destination.
            if (Find(sourcePath) is not FaultyInode inode)
            {
                throw new FileNotFoundException($"Could not find file '{sourcePath}'.", sourcePath);
            }

            var (parent, sourceName) = ParentOf(sourcePath);
            var sourceNames = Split(sourcePath);
            var destinationNames = Split(destinationPath);
            if (destinationNames.Length == 0
                || !sourceNames.AsSpan(0, sourceNames.Length - 1).SequenceEqual(destinationNames.AsSpan(0, destinationNames.Length - 1)))
            {
                // The device promises renames within one directory only; a crash model for a move
                // across directories (two directory fsyncs) would be guesswork, so misuse fails loudly.
                throw new ArgumentException($"Cannot rename '{sourcePath}' to '{destinationPath}': not in the same directory.", nameof(destinationPath));
            }

            var destinationName = destinationNames[^1];
            if (string.Equals(destinationName, sourceName, StringComparison.Ordinal))
            {
                return; // As File.Move does when a file is moved onto itself.
            }

            if (parent.Current.ContainsKey(destinationName))
            {
                throw new IOException($"The file '{destinationPath}' already exists.", FileExistsErrno);
            }

            parent.Current.Remove(sourceName);
            parent.Current[destinationName] = inode;
        }
    }

    public void DeleteDirectory(long generation, string path)
    {
        lock (_gate)
        {
            CheckGeneration(generation, path);
            var (parent, name) = ParentOf(path);
            if (parent.Current.TryGetValue(name, out var existing) && existing is FaultyDirectory)
            {
                parent.Current.Remove(name);
            }
        }
    }

    public void SyncDirectory(long generation, string path)
    {
        lock (_gate)
        {
            CheckGeneration(generation, path);
            var directory = Find(path) as FaultyDirectory ?? throw new DirectoryNotFoundException($"Could not find a part of the path '{path}'.");
            CountFsyncAttempt(path);
            if (TakeFsyncFault(path))
            {
                throw new IOException($"Input/output error : '{path}' (simulated failed directory fsync)", IoErrorErrno);
            }

            directory.Sync();
            DirectorySyncs++;
        }
    }

    public long AvailableFreeBytes(long generation)
    {
        lock (_gate)
        {
            CheckGeneration(generation, string.Empty);
            return Free();
        }
    }

    // ----- File operations -----

    public long Length(FaultyFile file, FaultyInode inode)
    {
        lock (_gate)
        {
            file.Check();
            return inode.Current.Length;
        }
    }

    public void Write(FaultyFile file, FaultyInode inode, long offset, ReadOnlySpan<byte> data)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        lock (_gate)
        {
            file.Check();
            var end = offset + data.Length;
            var growth = end - inode.Allocated;
            if (growth > 0 && growth > Free())
            {
                // Like pwrite on a full volume: what fits lands (a short write), then ENOSPC.
                var fits = (int)Math.Clamp(inode.Allocated + Free() - offset, 0, data.Length);
                if (fits > 0)
                {
                    inode.Write(offset, data[..fits]);
                    inode.Allocated = Math.Max(inode.Allocated, offset + fits);
                    BytesWritten += fits;
                }

                DiskFullErrors++;
                throw DiskFull.Create(file.Path);
            }

            inode.Write(offset, data);
            inode.Allocated = Math.Max(inode.Allocated, end);
            BytesWritten += data.Length;
        }
    }

    public int Read(FaultyFile file, FaultyInode inode, long offset, Span<byte> destination)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        lock (_gate)
        {
            file.Check();
            var read = inode.Current.Read(offset, destination);
            BytesRead += read;
            return read;
        }
    }

    public void Flush(FaultyFile file, FaultyInode inode)
    {
        FsyncStall? stall;
        lock (_gate)
        {
            file.Check();
            stall = _stalls.Find(s => !s.Taken && file.Path.StartsWith(s.PathPrefix, StringComparison.Ordinal));
            stall?.Take();
        }

        // Held outside the lock: the test, readers and a crash carry on meanwhile.
        stall?.Hold();
        lock (_gate)
        {
            file.Check();
            CountFsyncAttempt(file.Path);
            if (TakeFsyncFault(file.Path))
            {
                inode.DropUnsynced();
                throw new IOException($"Input/output error : '{file.Path}' (simulated failed fsync; the unsynced writes are gone)", IoErrorErrno);
            }

            inode.Sync();
            Fsyncs++;
        }
    }

    /// <summary>
    /// Page-cache advice changes no byte, so the double only counts it, and counts apart the advice that
    /// covered writes not yet fsynced: a kernel keeps dirty pages, so drop advice frees nothing there, while
    /// write-back advice is only worth giving there.
    /// </summary>
    public void Advise(FaultyFile file, FaultyInode inode, long offset, long length, bool writeBack)
    {
        lock (_gate)
        {
            if (file.IsDisposed || file.Generation != Generation)
            {
                return; // Advice on a closed handle is ignored, as the real device ignores it.
            }

            var overUnsynced = inode.Unsynced.Exists(w => w.NewLength is null && w.Offset < offset + length && offset < w.Offset + w.Length);
            var counted = writeBack ? WriteBacks : CacheDrops;
            counted = new CacheAdvice(counted.Calls + 1, counted.Bytes + length, counted.OverUnsyncedWrites + (overUnsynced ? 1 : 0));
            if (writeBack)
            {
                WriteBacks = counted;
            }
            else
            {
                CacheDrops = counted;
            }
        }
    }

    public void SetLength(FaultyFile file, FaultyInode inode, long length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        lock (_gate)
        {
            file.Check();
            inode.SetLength(length);

            // Truncation frees the blocks past the new end, preallocated ones included; growing is sparse.
            inode.Allocated = Math.Min(inode.Allocated, length);
        }
    }

    // ----- Faults and inspection -----

    public long Crash(Func<string, IReadOnlyList<UnsyncedWrite>, KeptWrites> keep)
    {
        lock (_gate)
        {
            Generation++;
            Crashes++;
            _fsyncFaults.Clear();

            // A power loss ends every fsync in progress: a held one wakes to find its handle retired.
            foreach (var stall in _stalls)
            {
                stall.Release();
            }

            _stalls.Clear();
            CrashDirectory(_root, string.Empty, keep, []);
            return Generation;
        }
    }

    public void FailDeletes(string pathPrefix, int count)
    {
        ArgumentNullException.ThrowIfNull(pathPrefix);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(count);
        lock (_gate)
        {
            _deleteFaults.Add((pathPrefix, count));
        }
    }

    public void FailFsyncs(string pathPrefix, int count)
    {
        ArgumentNullException.ThrowIfNull(pathPrefix);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(count);
        lock (_gate)
        {
            _fsyncFaults.Add((pathPrefix, count));
        }
    }

    public FsyncStall StallFsync(string pathPrefix)
    {
        ArgumentNullException.ThrowIfNull(pathPrefix);
        var stall = new FsyncStall(pathPrefix);
        lock (_gate)
        {
            _stalls.Add(stall);
        }

        return stall;
    }

    public void FlipBit(string path, long offset, int bit)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(bit);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(bit, 7);
        lock (_gate)
        {
            InodeAt(path).FlipBit(offset, bit);
        }
    }

    public IReadOnlyList<UnsyncedWrite> UnsyncedWrites(string path)
    {
        lock (_gate)
        {
            return [.. InodeAt(path).Unsynced];
        }
    }

    public byte[] ReadAllBytes(string path)
    {
        lock (_gate)
        {
            var image = InodeAt(path).Current;
            var bytes = new byte[image.Length];
            image.Read(0, bytes);
            return bytes;
        }
    }

    public long FsyncAttempts(string pathPrefix)
    {
        lock (_gate)
        {
            return _fsyncAttempts.Where(e => e.Key.StartsWith(pathPrefix, StringComparison.Ordinal)).Sum(e => e.Value);
        }
    }

    public IReadOnlyList<string> AllFiles()
    {
        lock (_gate)
        {
            var files = new List<string>();
            Collect(_root, string.Empty, files);
            return files;
        }
    }

    private static string[] Split(string path) => path.Split('/', StringSplitOptions.RemoveEmptyEntries);

    private static string Join(string directory, string name) => directory.Length == 0 ? name : $"{directory}/{name}";

    private static long Used(FaultyDirectory directory)
    {
        long used = 0;
        foreach (var child in directory.Current.Values)
        {
            used += child switch
            {
                FaultyInode inode => inode.Allocated,
                FaultyDirectory sub => Used(sub),
                _ => 0,
            };
        }

        return used;
    }

    private static void Collect(FaultyDirectory directory, string path, List<string> files)
    {
        foreach (var (name, child) in directory.Current)
        {
            if (child is FaultyDirectory sub)
            {
                Collect(sub, Join(path, name), files);
            }
            else
            {
                files.Add(Join(path, name));
            }
        }
    }

    private long Free() => Math.Max(0, _capacityBytes - Used(_root));

    private object? Find(string path)
    {
        object node = _root;
        foreach (var name in Split(path))
        {
            if (node is not FaultyDirectory directory || !directory.Current.TryGetValue(name, out var child))
            {
                return null;
            }

            node = child;
        }

        return node;
    }

    private FaultyInode InodeAt(string path) =>
        Find(path) as FaultyInode ?? throw new FileNotFoundException($"Could not find file '{path}'.", path);

    private (FaultyDirectory Parent, string Name) ParentOf(string path)
    {
        var names = Split(path);
        if (names.Length == 0)
        {
            throw new IOException("The root has no parent.");
        }

        var parentPath = string.Join('/', names[..^1]);
        return Find(parentPath) is FaultyDirectory parent
            ? (parent, names[^1])
            : throw new DirectoryNotFoundException($"Could not find a part of the path '{path}'.");
    }

    private void CountFsyncAttempt(string path) => _fsyncAttempts[path] = _fsyncAttempts.GetValueOrDefault(path) + 1;

    private bool TakeFsyncFault(string path)
    {
        if (!TakeFault(_fsyncFaults, path))
        {
            return false;
        }

        FailedFsyncs++;
        return true;
    }

    private static bool TakeFault(List<(string PathPrefix, int Remaining)> faults, string path)
    {
        for (var i = 0; i < faults.Count; i++)
        {
            var (prefix, remaining) = faults[i];
            if (path.StartsWith(prefix, StringComparison.Ordinal))
            {
                if (remaining == 1)
                {
                    faults.RemoveAt(i);
                }
                else
                {
                    faults[i] = (prefix, remaining - 1);
                }

                return true;
            }
        }

        return false;
    }

    /// <summary>
    /// Walks what survives: the names durable in each directory (their files' and sub-directories'
    /// contents reached through them), so an entry whose directory was never synced since it changed
    /// reverts, and a file linked nowhere durable is gone.
    /// </summary>
    private static void CrashDirectory(FaultyDirectory directory, string path, Func<string, IReadOnlyList<UnsyncedWrite>, KeptWrites> keep, HashSet<object> visited)
    {
        directory.Crash();
        foreach (var (name, child) in directory.Current)
        {
            if (!visited.Add(child))
            {
                continue;
            }

            var childPath = Join(path, name);
            if (child is FaultyDirectory sub)
            {
                CrashDirectory(sub, childPath, keep, visited);
            }
            else if (child is FaultyInode inode)
            {
                inode.Crash(inode.Unsynced.Count == 0 ? KeptWrites.None : keep(childPath, [.. inode.Unsynced]));
            }
        }
    }
}
