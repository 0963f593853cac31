using System.Collections.Concurrent;
using Holdfast.Storage.Devices;

namespace Holdfast.Benchmarks;

/// <summary>
/// A device that keeps file names and lengths but throws the bytes away, so that the append path
/// (pending buffer, CRC, writer thread, group commit, apply) can be measured without the disk or
/// an ever-growing buffer in memory. Fsync is free. Nothing reads the data back: a benchmark that
/// reopens a store cannot use this device.
/// </summary>
internal sealed class DiscardingDevice : IStorageDevice
{
    private readonly ConcurrentDictionary<string, DiscardingFile> _files = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, bool> _directories = new(StringComparer.Ordinal);

    public long AvailableFreeBytes => long.MaxValue;

    public IStorageFile Open(string path, bool create, long preallocateBytes = 0)
    {
        if (create)
        {
            return _files.GetOrAdd(path, _ => new DiscardingFile());
        }

        return _files.TryGetValue(path, out var file) ? file : throw new FileNotFoundException("No such file on the discarding device.", path);
    }

    public bool FileExists(string path) => _files.ContainsKey(path);

    public bool DirectoryExists(string path) => _directories.ContainsKey(path);

    public void CreateDirectory(string path) => _directories[path] = true;

    public IReadOnlyList<string> ListFiles(string directory) =>
        [.. _files.Keys.Where(p => Parent(p) == directory).Select(p => p[(p.LastIndexOf('/') + 1)..])];

    public IReadOnlyList<string> ListDirectories(string directory) =>
        [.. _directories.Keys.Where(p => Parent(p) == directory).Select(p => p[(p.LastIndexOf('/') + 1)..])];

    public void DeleteFile(string path) => _files.TryRemove(path, out _);

    public void RenameFile(string sourcePath, string destinationPath)
    {
        if (!_files.TryGetValue(sourcePath, out var file))
        {
            throw new FileNotFoundException("No such file on the discarding device.", sourcePath);
        }

        if (string.Equals(sourcePath, destinationPath, StringComparison.Ordinal))
        {
            return; // File.Move onto itself is a no-op.
        }

        // Claim the new name before releasing the old, so the file is never briefly under neither.
        if (!_files.TryAdd(destinationPath, file))
        {
            throw new IOException($"'{destinationPath}' already exists on the discarding device.");
        }

        _files.TryRemove(sourcePath, out _);
    }

    public void DeleteDirectory(string path)
    {
        _directories.TryRemove(path, out _);
        foreach (var file in _files.Keys.Where(p => p.StartsWith(path + "/", StringComparison.Ordinal)))
        {
            _files.TryRemove(file, out _);
        }
    }

    public void SyncDirectory(string directory)
    {
    }

    private static string Parent(string path)
    {
        var slash = path.LastIndexOf('/');
        return slash < 0 ? string.Empty : path[..slash];
    }
}
