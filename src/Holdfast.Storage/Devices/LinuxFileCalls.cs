using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Holdfast.Storage.Devices;

/// <summary>
/// The file calls .NET does not expose: fsync on a directory (so a new or deleted file's name survives
/// a crash), fdatasync (a segment's data without an inode timestamp write per flush), and the advice
/// that starts writeback behind the log and frees the page cache behind it.
/// </summary>
internal static partial class LinuxFileCalls
{
    private const int ReadOnly = 0;
    private const int WriteOnly = 1;
    private const int CloseOnExec = 0x80000; // O_CLOEXEC
    internal const int InvalidArgument = 22; // EINVAL (from O_DIRECT: a file system that will not do it)
    private const int Directory = 0x10000; // O_DIRECTORY on Linux
    private const int DontNeed = 4; // POSIX_FADV_DONTNEED on Linux
    private const uint SyncFileRangeWrite = 2; // SYNC_FILE_RANGE_WRITE

    public static void Sync(string directory)
    {
        if (!OperatingSystem.IsLinux())
        {
            return; // Other platforms make directory entries durable with the file, or offer no call for it.
        }

        var fd = Open(directory, ReadOnly | Directory);
        if (fd < 0)
        {
            throw new IOException($"open('{directory}') for fsync failed: errno {Marshal.GetLastPInvokeError()}");
        }

        try
        {
            if (FSync(fd) != 0)
            {
                throw new IOException($"fsync('{directory}') failed: errno {Marshal.GetLastPInvokeError()}", Marshal.GetLastPInvokeError());
            }
        }
        finally
        {
            _ = Close(fd);
        }
    }

    public static void DataSync(SafeFileHandle handle)
    {
        if (!OperatingSystem.IsLinux())
        {
            RandomAccess.FlushToDisk(handle);
            return;
        }

        var added = false;
        handle.DangerousAddRef(ref added);
        try
        {
            if (FDataSync((int)handle.DangerousGetHandle()) != 0)
            {
                var errno = Marshal.GetLastPInvokeError();
                throw new IOException($"fdatasync failed: errno {errno}", errno);
            }
        }
        finally
        {
            if (added)
            {
                handle.DangerousRelease();
            }
        }
    }

    /// <summary>posix_fadvise(POSIX_FADV_DONTNEED): advice, so its result is ignored, as is a handle closed meanwhile.</summary>
    public static void DropCached(SafeFileHandle handle, long offset, long length) => Advise(handle, offset, length, writeBack: false);

    /// <summary>
    /// sync_file_range(SYNC_FILE_RANGE_WRITE): starts writeback of the range's dirty pages and returns without
    /// waiting for it. Advice like <see cref="DropCached"/>: it makes nothing durable (no flush of the device's
    /// cache, no metadata), so only an fsync may confirm anything. Without the wait flags the call never reads or
    /// advances the file's writeback error state, so an I/O error in this writeback is still reported by the
    /// next fsync on the same descriptor, as failures that stick need.
    /// </summary>
    public static void StartWriteBack(SafeFileHandle handle, long offset, long length) => Advise(handle, offset, length, writeBack: true);

    private static void Advise(SafeFileHandle handle, long offset, long length, bool writeBack)
    {
        if (!OperatingSystem.IsLinux() || length <= 0)
        {
            return;
        }

        var added = false;
        try
        {
            handle.DangerousAddRef(ref added);
            var fd = (int)handle.DangerousGetHandle();
            _ = writeBack ? SyncFileRange(fd, offset, length, SyncFileRangeWrite) : FAdvise(fd, offset, length, DontNeed);
        }
        catch (ObjectDisposedException)
        {
            // A segment deleted or recycled since the range was chosen: nothing of it is worth advice.
        }
        finally
        {
            if (added)
            {
                handle.DangerousRelease();
            }
        }
    }

    /// <summary>
    /// A write-only descriptor with <c>O_DIRECT</c>, or null where the platform or file system has none (the caller
    /// then writes through the page cache as before).
    /// </summary>
    public static SafeFileHandle? TryOpenDirectForWriting(string path)
    {
        if (!OperatingSystem.IsLinux())
        {
            return null;
        }

        // O_DIRECT's value differs between Linux architectures.
        var direct = System.Runtime.InteropServices.RuntimeInformation.ProcessArchitecture switch
        {
            Architecture.X64 or Architecture.X86 => 0x4000,
            Architecture.Arm64 or Architecture.Arm => 0x10000,
            _ => 0,
        };
        if (direct == 0)
        {
            return null;
        }

        var fd = Open(path, WriteOnly | CloseOnExec | direct);
        if (fd < 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            return errno == InvalidArgument ? null : throw new IOException($"open('{path}', O_DIRECT) failed: errno {errno}", errno);
        }

        return new SafeFileHandle(fd, ownsHandle: true);
    }

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "fsync", SetLastError = true)]
    private static partial int FSync(int fd);

    [LibraryImport("libc", EntryPoint = "fdatasync", SetLastError = true)]
    private static partial int FDataSync(int fd);

    [LibraryImport("libc", EntryPoint = "posix_fadvise")]
    private static partial int FAdvise(int fd, long offset, long length, int advice);

    [LibraryImport("libc", EntryPoint = "sync_file_range")]
    private static partial int SyncFileRange(int fd, long offset, long length, uint flags);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    private static partial int Close(int fd);
}
