using Holdfast.Storage.Devices;
using Holdfast.Testing;

namespace Holdfast.Storage.Tests.Faults;

/// <summary>The fault double does what its fault model says; the store's fault tests lean on it.</summary>
public sealed class FaultyDeviceTests
{
    [Fact]
    public void A_crash_keeps_synced_bytes_and_drops_unsynced_ones()
    {
        var device = new FaultyDevice();
        using (var file = device.Open("f", create: true))
        {
            file.Write(0, "abc"u8);
            file.Flush();
            file.Write(3, "def"u8);
            Assert.Equal(6, file.Length);
        }

        device.SyncDirectory(string.Empty);
        var after = device.Crash();
        Assert.Equal("abc"u8.ToArray(), after.ReadAllBytes("f"));
    }

    [Fact]
    public void A_crash_can_keep_a_prefix_of_the_unsynced_writes_with_the_last_torn()
    {
        var device = new FaultyDevice();
        using (var file = device.Open("f", create: true))
        {
            file.Write(0, "0123"u8);
            file.Write(4, "4567"u8);
            file.Write(8, "89"u8);
        }

        device.SyncDirectory(string.Empty);
        Assert.Equal(3, device.UnsyncedWrites("f").Count);
        var after = device.Crash((_, writes) => KeptWrites.FirstBytes(writes, 6));
        Assert.Equal("012345"u8.ToArray(), after.ReadAllBytes("f"));
        Assert.Empty(after.UnsyncedWrites("f"));
    }

    [Fact]
    public void A_new_name_survives_a_crash_only_after_its_directory_is_synced()
    {
        var device = new FaultyDevice();
        device.CreateDirectory("d");
        device.SyncDirectory(string.Empty);
        device.Open("d/kept", create: true).Dispose();
        device.SyncDirectory("d");
        device.Open("d/lost", create: true).Dispose();
        device.DeleteFile("d/kept");
        Assert.False(device.FileExists("d/kept"));

        var after = device.Crash();
        Assert.True(after.FileExists("d/kept"));
        Assert.False(after.FileExists("d/lost"));
    }

    [Fact]
    public void Handles_and_views_from_before_a_crash_throw()
    {
        var device = new FaultyDevice();
        var file = device.Open("f", create: true);
        device.SyncDirectory(string.Empty);
        var after = device.Crash();

        Assert.True(device.IsRetired);
        Assert.False(after.IsRetired);
        Assert.Throws<IOException>(() => file.Write(0, "x"u8));
        Assert.Throws<IOException>(file.Flush);
        Assert.Throws<IOException>(() => device.Open("g", create: true));
        Assert.Throws<IOException>(() => device.SyncDirectory(string.Empty));
        Assert.False(after.FileExists("g"));
        file.Dispose();
    }

    [Fact]
    public void A_failed_fsync_reports_EIO_and_drops_the_unsynced_writes()
    {
        var device = new FaultyDevice();
        device.CreateDirectory("log");
        using var file = device.Open("log/x", create: true);
        file.Write(0, "abc"u8);
        file.Flush();
        file.Write(3, "def"u8);
        device.FailNextFsync("log/");

        var error = Assert.Throws<IOException>(file.Flush);
        Assert.Equal(5, error.HResult);
        Assert.Equal(3, file.Length);
        file.Flush(); // "Succeeds" over the lost bytes, as Linux's second fsync does.
        Assert.Equal(1, device.FailedFsyncs);
        Assert.Equal(3, device.FsyncAttempts("log/"));
    }

    [Fact]
    public void A_full_disk_takes_what_fits_then_throws_ENOSPC_and_raising_capacity_frees_space()
    {
        var device = new FaultyDevice(capacityBytes: 10);
        using var file = device.Open("f", create: true);
        file.Write(0, "0123456"u8);

        var error = Assert.Throws<IOException>(() => file.Write(7, "789abc"u8));
        Assert.True(DiskFull.IsDiskFull(error));
        Assert.Equal("0123456789"u8.ToArray(), device.ReadAllBytes("f"));
        Assert.True(DiskFull.IsDiskFull(Assert.Throws<IOException>(() => device.Open("g", create: true, preallocateBytes: 1))));
        Assert.False(device.FileExists("g"));

        device.CapacityBytes = 100;
        file.Write(10, "abc"u8);
        Assert.Equal(13, file.Length);
        Assert.Equal(2, device.DiskFullErrors);
    }

    [Fact]
    public void Preallocation_counts_against_capacity_and_writes_inside_it_need_no_more()
    {
        var device = new FaultyDevice(capacityBytes: 100);
        using var file = device.Open("f", create: true, preallocateBytes: 80);
        Assert.Equal(80, device.UsedBytes);
        Assert.Equal(0, file.Length);
        file.Write(0, new byte[80]);
        Assert.Equal(80, device.UsedBytes);
        file.SetLength(10);
        Assert.Equal(10, device.UsedBytes);
    }

    [Fact]
    public void A_bit_flip_changes_what_is_read_and_what_survives()
    {
        var device = new FaultyDevice();
        using (var file = device.Open("f", create: true))
        {
            file.Write(0, new byte[] { 0, 0 });
            file.Flush();
        }

        device.SyncDirectory(string.Empty);
        device.FlipBit("f", 1, 3);
        Assert.Equal(new byte[] { 0, 8 }, device.ReadAllBytes("f"));
        Assert.Equal(new byte[] { 0, 8 }, device.Crash().ReadAllBytes("f"));
    }
}
