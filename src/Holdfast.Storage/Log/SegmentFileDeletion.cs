using System.Diagnostics;
using Holdfast.Storage.Devices;

namespace Holdfast.Storage.Log;

/// <summary>
/// Deletes a dead segment's file by cutting it down a slice at a time, with a pause between slices, before
/// unlinking what is left. On ext4 mounted with online discard, the blocks a deletion frees are discarded (by
/// the journal commits that follow, or, without a journal, by the truncate itself), and the log's writes and
/// fsyncs queue behind the discards: unlinking a 1 GiB segment at once took ~230 ms and held the fsyncs after
/// it at 50–75 ms each for most of a second. Slices spread the discard out. The pace follows the disk: a slice
/// that took long is followed by a pause <see cref="PauseFactor"/> times as long, so deletions take at most
/// about a fifth of the disk's time however slowly it discards (docs/benchmarks.md, "Reused segments").
/// A crash midway leaves a shorter dead file below the checkpoint that found it dead; recovery never replays it,
/// and a later checkpoint deletes it again.
/// </summary>
internal static class SegmentFileDeletion
{
    public const long SliceBytes = 8L * 1024 * 1024;
    public const int PauseFactor = 4;
    public static readonly TimeSpan MinimumPause = TimeSpan.FromMilliseconds(20);

    /// <summary>Deletes the file, pausing between slices; once <paramref name="hurry"/> is cancelled (the store is closing), unlinks the rest at once.</summary>
    public static void Delete(IStorageDevice device, string path, long sliceBytes = SliceBytes, TimeSpan? minimumPause = null, CancellationToken hurry = default)
    {
        // Deleting what is already gone succeeds, as an unlink through File.Delete did before the slices.
        if (!device.FileExists(path))
        {
            return;
        }

        var least = minimumPause ?? MinimumPause;
        using (var file = device.Open(path, create: false))
        {
            for (var length = file.Length - sliceBytes; length > 0 && !hurry.IsCancellationRequested; length -= sliceBytes)
            {
                var started = Stopwatch.GetTimestamp();
                file.SetLength(length);
                var took = Stopwatch.GetElapsedTime(started);
                var pause = took * PauseFactor > least ? took * PauseFactor : least;
                hurry.WaitHandle.WaitOne(pause);
            }
        }

        device.DeleteFile(path);
    }
}
