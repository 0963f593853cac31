using Holdfast.Storage.Devices;

namespace Holdfast.Storage.Log;

/// <summary>
/// Deletes a dead segment's file by cutting it down a slice at a time, with a pause between slices, before
/// unlinking what is left. On ext4 mounted with online discard, unlinking a 1 GiB segment took ~230 ms and
/// left the freed gigabyte to be discarded by the journal commits that followed, which the log's fsyncs wait
/// for: 50–75 ms each for most of a second, and confirms stalled (docs/benchmarks.md). Slices spread the
/// discard over many commits. A crash midway leaves a shorter dead file below the checkpoint that found it
/// dead; recovery never replays it, and the next checkpoint deletes it again.
/// </summary>
internal static class SegmentFileDeletion
{
    public const long SliceBytes = 32L * 1024 * 1024;
    private static readonly TimeSpan PauseBetweenSlices = TimeSpan.FromMilliseconds(10);

    /// <summary>Checkpointer thread only: the pauses hold up nothing but the next checkpoint's start.</summary>
    public static void Delete(IStorageDevice device, string path, long sliceBytes = SliceBytes)
    {
        // Deleting what is already gone succeeds, as an unlink through File.Delete did before the slices.
        if (!device.FileExists(path))
        {
            return;
        }

        using (var file = device.Open(path, create: false))
        {
            for (var length = file.Length - sliceBytes; length > 0; length -= sliceBytes)
            {
                file.SetLength(length);
                Thread.Sleep(PauseBetweenSlices);
            }
        }

        device.DeleteFile(path);
    }
}
