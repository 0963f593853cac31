using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Holdfast.LoadTool;

/// <summary>
/// fdatasync for the baseline, so that it pays for exactly the call the engine's segments use
/// (the engine's own wrapper is internal). Elsewhere than Linux, <see cref="RandomAccess.FlushToDisk"/>.
/// </summary>
internal static partial class NativeSync
{
    public static string CallName => OperatingSystem.IsLinux() ? "fdatasync" : "RandomAccess.FlushToDisk";

    public static void DataSync(SafeFileHandle handle)
    {
        if (!OperatingSystem.IsLinux())
        {
            RandomAccess.FlushToDisk(handle);
            return;
        }

        if (FDataSync(handle) != 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            throw new IOException($"fdatasync failed: errno {errno}", errno);
        }
    }

    [LibraryImport("libc", EntryPoint = "fdatasync", SetLastError = true)]
    private static partial int FDataSync(SafeFileHandle fd);
}
