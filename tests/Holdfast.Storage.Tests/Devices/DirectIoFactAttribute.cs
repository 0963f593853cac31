using Holdfast.Storage.Devices;

namespace Holdfast.Storage.Tests.Devices;

/// <summary>A fact that runs only where the temp folder's file system takes <c>O_DIRECT</c> (not tmpfs, not macOS).</summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class DirectIoFactAttribute : FactAttribute
{
    private static readonly Lazy<bool> Available = new(Probe);

    public DirectIoFactAttribute()
    {
        if (!Available.Value)
        {
            Skip = $"The file system under {Path.GetTempPath()} refuses O_DIRECT.";
        }
    }

    private static bool Probe()
    {
        var path = Path.Combine(Path.GetTempPath(), $"holdfast-direct-probe-{Guid.NewGuid():N}");
        try
        {
            File.WriteAllBytes(path, []);
            using var handle = LinuxFileCalls.TryOpenDirectForWriting(path);
            return handle is not null;
        }
        finally
        {
            File.Delete(path);
        }
    }
}
