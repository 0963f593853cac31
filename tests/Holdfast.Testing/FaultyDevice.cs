using Holdfast.Storage.Devices;

namespace Holdfast.Testing;

/// <summary>
/// An in-memory <see cref="IStorageDevice"/> that loses, tears, corrupts and refuses data the way a
/// real disk and kernel can, on command.
/// <para>
/// Fault model. Each file has a durable image (what survives power loss) and, on top of it, the
/// writes and SetLengths made since its last successful <see cref="IStorageFile.Flush"/> (fsync), in
/// order; reads see the durable image with those changes applied. Directory entries work the same way:
/// creating or deleting a file or directory changes the directory at once for everyone reading it, but
/// the change survives a crash only once <see cref="IStorageDevice.SyncDirectory"/> has been called on
/// that directory; until then a crash brings back the old entry (with the file's durable contents) or
/// removes the new one. A rename (within one directory, onto a free name) is a deletion and a creation
/// made atomically: the same file, durable image and unsynced writes, is at once under the new name
/// only, and its open handles keep working. A crash keeps the old name, or the new one if the directory
/// was synced after the rename (never both, never neither), and the file's contents follow the usual
/// rules under the name that survives. Renames take no space. A file's length is durable with its data
/// (fdatasync semantics).
/// </para>
/// <list type="bullet">
/// <item><b>Crash</b> (<see cref="Crash()"/> and its overloads): power loss or a kernel panic. Every file
/// reverts to its durable image plus, as the test chooses per file, a prefix of its unsynced writes in
/// the order they were made, the last kept one torn after any byte; by default everything unsynced is
/// lost. What survives becomes durable. The crash returns a fresh view of the disk for the next store
/// and retires the old view: every call through it, or through a file opened by it, throws
/// <see cref="IOException"/>, so a store from before the crash cannot touch what survived.</item>
/// <item><b>Bit flip</b> (<see cref="FlipBit"/>): one bit of a file changes in both images (media corruption).</item>
/// <item><b>Failed fsync</b> (<see cref="FailNextFsync"/>): the next fsyncs of matching paths throw
/// <see cref="IOException"/> with HResult 5 (EIO) and, as Linux does, drop the file's unsynced writes,
/// so a second fsync would "succeed" over lost data. A directory's failed fsync leaves its durable
/// entries as they were.</item>
/// <item><b>Full disk</b> (<see cref="CapacityBytes"/>): a write that would take the volume past its
/// capacity writes what fits and throws <see cref="DiskFull.Create"/> (ENOSPC, HResult 28, as .NET
/// reports it on Linux); creating a file with preallocation that does not fit throws the same and
/// creates nothing. Space is a high-water mark per file (written or preallocated bytes; truncation
/// frees what lies past the new end); deleted files free theirs. Raising the capacity frees space.</item>
/// </list>
/// Page-cache advice (<see cref="IStorageFile.DropCached"/>, <see cref="IStorageFile.StartWriteBack"/>) changes
/// nothing the store can read and nothing a crash keeps; it is only counted (<see cref="CacheDrops"/>,
/// <see cref="WriteBacks"/>), with the calls that covered unsynced writes apart.
/// A test can also hold an fsync in progress (<see cref="StallNextFsync"/>) to act while the store waits
/// on it. A crash disarms fsync faults not yet triggered and ends every stall.
/// Not modelled: renames across directories (refused, as the device promises none), partial sector
/// writes other than the torn tail of a file's last kept write, reordering of one file's writes, latency
/// other than a held fsync, and crashes during a crash.
/// Test controls and counters act on the shared disk whichever view they are called through.
/// </summary>
public sealed class FaultyDevice : IStorageDevice
{
    private readonly FaultyDisk _disk;
    private readonly long _generation;

    public FaultyDevice(long capacityBytes = long.MaxValue)
        : this(new FaultyDisk(capacityBytes), 0)
    {
    }

    private FaultyDevice(FaultyDisk disk, long generation)
    {
        _disk = disk;
        _generation = generation;
    }

    /// <summary>True once a crash has retired this view.</summary>
    public bool IsRetired => _disk.Generation != _generation;

    /// <summary>The volume's size. Lowering it below what is used makes every growing write fail; raising it frees space.</summary>
    public long CapacityBytes
    {
        get => _disk.CapacityBytes;
        set => _disk.CapacityBytes = value;
    }

    public long UsedBytes => _disk.UsedBytes;

    /// <summary>Successful file fsyncs.</summary>
    public long Fsyncs => Locked(static disk => disk.Fsyncs);

    public long DirectorySyncs => Locked(static disk => disk.DirectorySyncs);

    public long FailedFsyncs => Locked(static disk => disk.FailedFsyncs);

    /// <summary>Bytes accepted by writes (partial writes on a full disk included).</summary>
    public long BytesWritten => Locked(static disk => disk.BytesWritten);

    /// <summary>Bytes returned by reads, across every file.</summary>
    public long BytesRead => Locked(static disk => disk.BytesRead);

    /// <summary>Page-cache advice the store gave (<see cref="IStorageFile.DropCached"/>), across every file.</summary>
    public CacheAdvice CacheDrops => Locked(static disk => disk.CacheDrops);

    /// <summary>Advice the store gave to start writing dirty bytes back (<see cref="IStorageFile.StartWriteBack"/>), across every file.</summary>
    public CacheAdvice WriteBacks => Locked(static disk => disk.WriteBacks);

    /// <summary>Writes and preallocations refused for want of space.</summary>
    public long DiskFullErrors => Locked(static disk => disk.DiskFullErrors);

    public long Crashes => Locked(static disk => disk.Crashes);

    public long AvailableFreeBytes => _disk.AvailableFreeBytes(_generation);

    public IStorageFile Open(string path, bool create, long preallocateBytes = 0) => _disk.Open(_generation, path, create, preallocateBytes);

    public bool FileExists(string path) => _disk.FileExists(_generation, path);

    public bool DirectoryExists(string path) => _disk.DirectoryExists(_generation, path);

    public void CreateDirectory(string path) => _disk.CreateDirectory(_generation, path);

    public IReadOnlyList<string> ListFiles(string directory) => _disk.List(_generation, directory, directories: false);

    public IReadOnlyList<string> ListDirectories(string directory) => _disk.List(_generation, directory, directories: true);

    public void DeleteFile(string path) => _disk.DeleteFile(_generation, path);

    public void RenameFile(string sourcePath, string destinationPath) => _disk.RenameFile(_generation, sourcePath, destinationPath);

    public void DeleteDirectory(string path) => _disk.DeleteDirectory(_generation, path);

    public void SyncDirectory(string directory) => _disk.SyncDirectory(_generation, directory);

    /// <summary>Power loss that keeps nothing unsynced. Returns the view to reopen the store on.</summary>
    public FaultyDevice Crash() => Crash(static (_, _) => KeptWrites.None);

    /// <summary>
    /// Power loss that keeps, for each file, a random prefix of its unsynced writes, the last one torn
    /// at a random byte half of the time. Files are visited in path order, so a seed replays the same choices.
    /// </summary>
    public FaultyDevice Crash(Random random)
    {
        ArgumentNullException.ThrowIfNull(random);
        return Crash((_, writes) =>
        {
            var count = random.Next(writes.Count + 1);
            if (count > 0 && writes[count - 1].NewLength is null && random.Next(2) == 0)
            {
                return new KeptWrites(count, random.Next(writes[count - 1].Length + 1));
            }

            return new KeptWrites(count);
        });
    }

    /// <summary>
    /// Power loss where <paramref name="keep"/> decides, for each surviving file that has unsynced writes
    /// (given its path and those writes in order), what of them reaches the disk.
    /// </summary>
    public FaultyDevice Crash(Func<string, IReadOnlyList<UnsyncedWrite>, KeptWrites> keep)
    {
        ArgumentNullException.ThrowIfNull(keep);
        return new FaultyDevice(_disk, _disk.Crash(keep));
    }

    /// <summary>Flips one bit of a file, in what is on disk and what reads see.</summary>
    public void FlipBit(string path, long offset, int bit) => _disk.FlipBit(path, offset, bit);

    /// <summary>Makes the next <paramref name="count"/> fsyncs (of files or directories) whose path starts with <paramref name="pathPrefix"/> fail.</summary>
    public void FailNextFsync(string pathPrefix = "", int count = 1) => _disk.FailFsyncs(pathPrefix, count);

    /// <summary>The next <paramref name="count"/> deletions of files under <paramref name="pathPrefix"/> fail with an I/O error; the files stay.</summary>
    public void FailNextDeletes(string pathPrefix = "", int count = 1) => _disk.FailDeletes(pathPrefix, count);

    /// <summary>Holds the next fsync of a file whose path starts with <paramref name="pathPrefix"/> until the stall is released (stalls match in the order they were made).</summary>
    public FsyncStall StallNextFsync(string pathPrefix = "") => _disk.StallFsync(pathPrefix);

    /// <summary>Fsyncs tried (failed ones included) on paths starting with <paramref name="pathPrefix"/>.</summary>
    public long FsyncAttempts(string pathPrefix = "") => _disk.FsyncAttempts(pathPrefix);

    /// <summary>The writes made to a file since its last fsync, oldest first.</summary>
    public IReadOnlyList<UnsyncedWrite> UnsyncedWrites(string path) => _disk.UnsyncedWrites(path);

    /// <summary>The file's contents as reads see them now.</summary>
    public byte[] ReadAllBytes(string path) => _disk.ReadAllBytes(path);

    /// <summary>Paths of every file, as listing the directories would find them now.</summary>
    public IReadOnlyList<string> AllFiles() => _disk.AllFiles();

    /// <summary>Reads a counter under the disk's lock, which the store's threads write it under.</summary>
    private T Locked<T>(Func<FaultyDisk, T> read)
    {
        lock (_disk.Gate)
        {
            return read(_disk);
        }
    }
}
