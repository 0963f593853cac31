using System.Diagnostics;
using Holdfast.Storage.Log;
using Holdfast.Testing;

namespace Holdfast.Storage.Tests.Operations;

/// <summary>Dead segment files are deleted on the reclaimer's own thread, so whoever hands one over (a checkpoint) never waits for it.</summary>
public sealed class SegmentReclaimerTests
{
    [Fact]
    public void Files_handed_over_are_deleted_in_the_background()
    {
        var device = WithFiles("log/a.seg", "log/b.seg");
        using var reclaimer = new SegmentReclaimer(device, sliceBytes: 4_000, minimumPause: TimeSpan.FromMilliseconds(1));

        reclaimer.Delete("log/a.seg");
        reclaimer.Delete("log/b.seg");

        Assert.True(reclaimer.WaitIdle(TimeSpan.FromSeconds(30)));
        Assert.Empty(device.ListFiles("log"));
        Assert.Equal(2, reclaimer.Deleted);
        Assert.Equal(0, reclaimer.Pending);
    }

    [Fact]
    public async Task Handing_over_returns_while_the_deletion_is_still_pacing_and_a_close_finishes_it_without_the_pauses()
    {
        var device = WithFiles("log/a.seg", "log/b.seg");
        var reclaimer = new SegmentReclaimer(device, sliceBytes: 1_000, minimumPause: TimeSpan.FromMinutes(10));
        try
        {
            reclaimer.Delete("log/a.seg");
            reclaimer.Delete("log/b.seg");

            // The first slice is cut, then the reclaimer pauses for ten minutes; the caller has long returned.
            await Eventually.TrueAsync(() => Length(device, "log/a.seg") == 9_000, TimeSpan.FromSeconds(30), "the first slice is cut");
            Assert.Equal(2, reclaimer.Pending);
            Assert.True(device.FileExists("log/b.seg"));
        }
        finally
        {
            var closing = Stopwatch.StartNew();
            reclaimer.Dispose();
            Assert.True(closing.Elapsed < TimeSpan.FromMinutes(1), $"the close waited out the pause ({closing.Elapsed})");
        }

        Assert.Empty(device.ListFiles("log"));
        Assert.Equal(2, reclaimer.Deleted);
        Assert.Equal(0, reclaimer.Pending);
    }

    [Fact]
    public void A_file_handed_over_after_the_close_stays()
    {
        var device = WithFiles("log/a.seg");
        var reclaimer = new SegmentReclaimer(device, sliceBytes: 4_000, minimumPause: TimeSpan.FromMilliseconds(1));
        reclaimer.Dispose();

        reclaimer.Delete("log/a.seg");

        Assert.True(device.FileExists("log/a.seg"));
        Assert.Equal(0, reclaimer.Pending);
    }

    private static FaultyDevice WithFiles(params string[] paths)
    {
        var device = new FaultyDevice();
        device.CreateDirectory("log");
        foreach (var path in paths)
        {
            using var file = device.Open(path, create: true);
            file.Write(0, new byte[10_000]);
        }

        return device;
    }

    private static long Length(FaultyDevice device, string path)
    {
        using var file = device.Open(path, create: false);
        return file.Length;
    }
}
