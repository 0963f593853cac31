namespace Holdfast.Storage.Devices;

/// <summary>
/// The one seam under the disk: every byte the store reads or writes passes through a device,
/// so that tests can substitute a device that tears writes, loses unsynced data, flips bits,
/// fails fsync or runs out of space. Paths are relative to the device's root and use '/'.
/// </summary>
/// <remarks>
/// A device reports a full disk by throwing an <see cref="IOException"/> whose HResult is the
/// platform's "no space" code (ENOSPC on Unix), exactly as the .NET file APIs do; the store
/// classifies it with <see cref="DiskFull.IsDiskFull(Exception)"/>.
/// </remarks>
public interface IStorageDevice
{
    /// <summary>Opens an existing file, or creates it when <paramref name="create"/> is set.</summary>
    /// <param name="preallocateBytes">Space to reserve for a new file without changing its length.</param>
    IStorageFile Open(string path, bool create, long preallocateBytes = 0);

    bool FileExists(string path);

    bool DirectoryExists(string path);

    void CreateDirectory(string path);

    /// <summary>Names (not paths) of the files directly inside <paramref name="directory"/>, or none if it does not exist.</summary>
    IReadOnlyList<string> ListFiles(string directory);

    /// <summary>Names of the sub-directories directly inside <paramref name="directory"/>.</summary>
    IReadOnlyList<string> ListDirectories(string directory);

    void DeleteFile(string path);

    /// <summary>
    /// Gives a closed file a new name in the same directory; the destination must not exist. Like a
    /// creation or deletion, the change survives a crash only once <see cref="SyncDirectory"/> has run.
    /// </summary>
    void RenameFile(string sourcePath, string destinationPath);

    void DeleteDirectory(string path);

    /// <summary>Makes the creations, deletions and renames inside a directory durable (fsync on the directory).</summary>
    void SyncDirectory(string directory);

    /// <summary>Free bytes on the volume, for the broker's disk alarm.</summary>
    long AvailableFreeBytes { get; }
}
