using System.Diagnostics;
using Holdfast.Storage.Devices;
using Holdfast.Storage.Log;
using Holdfast.Testing;

namespace Holdfast.Storage.Tests.Operations;

/// <summary>A dead segment's file is cut down a slice at a time, at a pace that follows the disk, then closed and unlinked (see <see cref="SegmentFileDeletion"/>).</summary>
public sealed class SegmentFileDeletionTests
{
    private static readonly long Started = Stopwatch.GetTimestamp();

    [Fact]
    public void The_file_shrinks_slice_by_slice_before_it_is_unlinked()
    {
        var device = WithDeadFile(10_000);
        SegmentFileDeletion.Delete(device, "log/dead.seg", sliceBytes: 4_000);

        Assert.Equal(["set length 6000", "set length 2000", "close", "delete log/dead.seg"], device.Calls);
        Assert.False(device.FileExists("log/dead.seg"));
    }

    [Fact]
    public void A_file_within_one_slice_is_unlinked_at_once()
    {
        var device = WithDeadFile(3_000);
        SegmentFileDeletion.Delete(device, "log/dead.seg", sliceBytes: 4_000);

        Assert.Equal(["close", "delete log/dead.seg"], device.Calls);
    }

    [Fact]
    public void A_file_already_gone_is_left_alone()
    {
        var device = WithDeadFile(3_000);
        device.DeleteFile("log/dead.seg");
        device.Calls.Clear();

        SegmentFileDeletion.Delete(device, "log/dead.seg", sliceBytes: 4_000);

        Assert.Empty(device.Calls);
    }

    [Fact]
    public void A_slow_slice_is_followed_by_a_pause_four_times_as_long()
    {
        var device = WithDeadFile(10_000, setLengthTakes: TimeSpan.FromMilliseconds(40));
        SegmentFileDeletion.Delete(device, "log/dead.seg", sliceBytes: 4_000, minimumPause: TimeSpan.FromMilliseconds(1));

        Assert.Equal(["set length 6000", "set length 2000", "close", "delete log/dead.seg"], device.Calls);
        var gap = device.SetLengthStarts[1] - device.SetLengthEnds[0];
        Assert.True(gap >= TimeSpan.FromMilliseconds(4 * 40), $"only {gap.TotalMilliseconds:F0} ms between slices after a 40 ms slice");
    }

    [Fact]
    public void A_hurried_deletion_unlinks_the_rest_at_once()
    {
        var device = WithDeadFile(10_000);
        using var hurry = new CancellationTokenSource();
        hurry.Cancel();

        var started = Stopwatch.StartNew();
        SegmentFileDeletion.Delete(device, "log/dead.seg", sliceBytes: 4_000, minimumPause: TimeSpan.FromMinutes(10), hurry: hurry.Token);

        Assert.Equal(["close", "delete log/dead.seg"], device.Calls);
        Assert.True(started.Elapsed < TimeSpan.FromMinutes(1), $"the hurried deletion paused ({started.Elapsed})");
    }

    private static RecordingDevice WithDeadFile(int bytes, TimeSpan setLengthTakes = default)
    {
        var device = new RecordingDevice(new FaultyDevice()) { SetLengthTakes = setLengthTakes };
        device.CreateDirectory("log");
        using (var file = device.Open("log/dead.seg", create: true))
        {
            file.Write(0, new byte[bytes]);
        }

        device.Calls.Clear();
        return device;
    }

    /// <summary>Forwards to a real device double and writes down the calls that change a file's size or existence.</summary>
    private sealed class RecordingDevice(IStorageDevice inner) : IStorageDevice
    {
        public List<string> Calls { get; } = [];

        public TimeSpan SetLengthTakes { get; init; }

        public List<TimeSpan> SetLengthStarts { get; } = [];

        public List<TimeSpan> SetLengthEnds { get; } = [];

        public long AvailableFreeBytes => inner.AvailableFreeBytes;

        public IStorageFile Open(string path, bool create, long preallocateBytes = 0) => new RecordingFile(inner.Open(path, create, preallocateBytes), this);

        public bool FileExists(string path) => inner.FileExists(path);

        public bool DirectoryExists(string path) => inner.DirectoryExists(path);

        public void CreateDirectory(string path) => inner.CreateDirectory(path);

        public IReadOnlyList<string> ListFiles(string directory) => inner.ListFiles(directory);

        public IReadOnlyList<string> ListDirectories(string directory) => inner.ListDirectories(directory);

        public void DeleteFile(string path)
        {
            Calls.Add($"delete {path}");
            inner.DeleteFile(path);
        }

        public void RenameFile(string sourcePath, string destinationPath) => inner.RenameFile(sourcePath, destinationPath);

        public void DeleteDirectory(string path) => inner.DeleteDirectory(path);

        public void SyncDirectory(string directory) => inner.SyncDirectory(directory);
    }

    private sealed class RecordingFile(IStorageFile inner, RecordingDevice device) : IStorageFile
    {
        public long Length => inner.Length;

        public void Write(long offset, ReadOnlySpan<byte> data) => inner.Write(offset, data);

        public void Write(long offset, IReadOnlyList<ReadOnlyMemory<byte>> buffers) => inner.Write(offset, buffers);

        public int Read(long offset, Span<byte> buffer) => inner.Read(offset, buffer);

        public void Flush() => inner.Flush();

        public void SetLength(long length)
        {
            device.Calls.Add($"set length {length}");
            device.SetLengthStarts.Add(Stopwatch.GetElapsedTime(Started));
            Thread.Sleep(device.SetLengthTakes);
            inner.SetLength(length);
            device.SetLengthEnds.Add(Stopwatch.GetElapsedTime(Started));
        }

        public void DropCached(long offset, long length) => inner.DropCached(offset, length);

        public void StartWriteBack(long offset, long length) => inner.StartWriteBack(offset, length);

        public void Dispose()
        {
            device.Calls.Add("close");
            inner.Dispose();
        }
    }
}
