using Microsoft.Win32.SafeHandles;

namespace Holdfast.Storage.Devices;

/// <summary>The real disk, through <see cref="RandomAccess"/> on <see cref="Microsoft.Win32.SafeHandles.SafeFileHandle"/>s.</summary>
public sealed class FileSystemDevice : IStorageDevice
{
    private readonly string _root;
    private readonly string? _directWritesUnder;
    private readonly int _directWriteMinimumBytes;

    /// <param name="root">The directory every path is relative to.</param>
    /// <param name="directWritesUnder">A directory whose files are written past the page cache (<see cref="DirectWriteFile"/>), where the file system allows it.</param>
    /// <param name="directWriteMinimumBytes">Smaller writes to those files still go through the page cache.</param>
    public FileSystemDevice(string root, string? directWritesUnder = null, int directWriteMinimumBytes = DirectWriteFile.DefaultDirectWriteMinimumBytes)
    {
        _directWritesUnder = directWritesUnder;
        _directWriteMinimumBytes = directWriteMinimumBytes;
        _root = Path.GetFullPath(root);
        if (!System.IO.Directory.Exists(_root))
        {
            System.IO.Directory.CreateDirectory(_root);

            // A new data directory's own name must survive a crash too, or everything under it goes with it.
            if (Path.GetDirectoryName(_root) is { } parent)
            {
                LinuxFileCalls.Sync(parent);
            }
        }
    }

    public string Root => _root;

    public long AvailableFreeBytes => new DriveInfo(_root).AvailableFreeSpace;

    public IStorageFile Open(string path, bool create, long preallocateBytes = 0)
    {
        var full = Full(path);
        if (create && !File.Exists(full))
        {
            // .NET reserves the space with fallocate(FALLOC_FL_KEEP_SIZE): blocks are ours, the length stays 0,
            // so a later fsync never meets ENOSPC and recovery still sees where the data ends.
            try
            {
                return Wrap(path, full, File.OpenHandle(full, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.Read, FileOptions.None, preallocateBytes));
            }
            catch (IOException ex) when (preallocateBytes > 0 && !DiskFull.IsDiskFull(ex) && AvailableFreeBytes < preallocateBytes)
            {
                // .NET reports a failed preallocation as a generic IOException; say what it was.
                throw DiskFull.Create(full);
            }
        }

        return Wrap(path, full, File.OpenHandle(full, FileMode.Open, FileAccess.ReadWrite, FileShare.Read));
    }

    private IStorageFile Wrap(string path, string full, SafeFileHandle handle)
    {
        if (_directWritesUnder is { } directory && Path.GetDirectoryName(path.AsSpan()).SequenceEqual(directory))
        {
            try
            {
                if (DirectWriteFile.TryOpen(full, handle, _directWriteMinimumBytes) is { } direct)
                {
                    return direct;
                }
            }
            catch
            {
                handle.Dispose();
                throw;
            }
        }

        return new FileSystemFile(full, handle);
    }

    public bool FileExists(string path) => File.Exists(Full(path));

    public bool DirectoryExists(string path) => System.IO.Directory.Exists(Full(path));

    public void CreateDirectory(string path) => System.IO.Directory.CreateDirectory(Full(path));

    public IReadOnlyList<string> ListFiles(string directory)
    {
        var full = Full(directory);
        return System.IO.Directory.Exists(full)
            ? System.IO.Directory.GetFiles(full).Select(Path.GetFileName).OfType<string>().ToArray()
            : [];
    }

    public IReadOnlyList<string> ListDirectories(string directory)
    {
        var full = Full(directory);
        return System.IO.Directory.Exists(full)
            ? System.IO.Directory.GetDirectories(full).Select(Path.GetFileName).OfType<string>().ToArray()
            : [];
    }

    public void DeleteFile(string path) => File.Delete(Full(path));

    public void RenameFile(string sourcePath, string destinationPath) => File.Move(Full(sourcePath), Full(destinationPath), overwrite: false);

    public void DeleteDirectory(string path)
    {
        var full = Full(path);
        if (System.IO.Directory.Exists(full))
        {
            System.IO.Directory.Delete(full, recursive: true);
        }
    }

    public void SyncDirectory(string directory) => LinuxFileCalls.Sync(Full(directory));

    private string Full(string path) => path.Length == 0 ? _root : Path.Combine(_root, path);
}
