namespace Holdfast.Storage.Devices;

/// <summary>Recognises the operating system's "no space left on device" among I/O errors.</summary>
public static class DiskFull
{
    /// <summary>ENOSPC on Linux and macOS; .NET puts the raw errno in HResult on Unix.</summary>
    public const int UnixNoSpaceErrno = 28;

    private const int WindowsDiskFull = unchecked((int)0x80070070);
    private const int WindowsHandleDiskFull = unchecked((int)0x80070027);

    public static bool IsDiskFull(Exception exception) =>
        exception is DiskFullException
        || (exception is IOException io && io.HResult is UnixNoSpaceErrno or WindowsDiskFull or WindowsHandleDiskFull);

    /// <summary>The exception a device throws for a full disk, shaped as .NET shapes it on Unix.</summary>
    public static IOException Create(string path) => new($"No space left on device : '{path}'", UnixNoSpaceErrno);
}
