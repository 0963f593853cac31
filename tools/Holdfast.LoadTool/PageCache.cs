using System.Runtime.InteropServices;

namespace Holdfast.LoadTool;

/// <summary>
/// Empties the kernel's page cache so that the next open reads the log from the disk rather than
/// from memory the build left warm. Linux only, and only as root: anything else is an error, never
/// a silently warm measurement.
/// </summary>
internal static partial class PageCache
{
    public static void Drop()
    {
        if (!OperatingSystem.IsLinux())
        {
            throw new PlatformNotSupportedException("--drop-caches works on Linux only.");
        }

        Sync();
        File.WriteAllText("/proc/sys/vm/drop_caches", "3");
    }

    [LibraryImport("libc", EntryPoint = "sync")]
    private static partial void Sync();
}
