using Holdfast.Testing;

namespace Holdfast.Storage.Tests.Faults;

/// <summary>
/// Renames on the fault double behave as rename(2) on ext4 does, since the store will recycle log
/// segments by renaming them and its crash tests must see what a real disk would keep.
/// </summary>
public sealed class FaultyDeviceRenameTests
{
    [Fact]
    public void A_rename_is_seen_at_once_and_the_contents_go_with_it()
    {
        var device = DeviceWithSyncedFile("log/old", "abc"u8);

        device.RenameFile("log/old", "log/new");

        Assert.False(device.FileExists("log/old"));
        Assert.True(device.FileExists("log/new"));
        Assert.Equal(["new"], device.ListFiles("log"));
        Assert.Equal("abc"u8.ToArray(), device.ReadAllBytes("log/new"));
        Assert.Equal(["log/new"], device.AllFiles());
    }

    [Fact]
    public void A_rename_takes_no_space()
    {
        var device = DeviceWithSyncedFile("log/old", "abc"u8);
        var used = device.UsedBytes;

        device.RenameFile("log/old", "log/new");

        Assert.Equal(used, device.UsedBytes);
    }

    [Fact]
    public void A_crash_before_the_directory_is_synced_brings_back_the_old_name()
    {
        var device = DeviceWithSyncedFile("log/old", "abc"u8);
        device.RenameFile("log/old", "log/new");

        var after = device.Crash();

        Assert.True(after.FileExists("log/old"));
        Assert.False(after.FileExists("log/new"));
        Assert.Equal("abc"u8.ToArray(), after.ReadAllBytes("log/old"));
    }

    [Fact]
    public void A_crash_after_the_directory_is_synced_keeps_the_new_name()
    {
        var device = DeviceWithSyncedFile("log/old", "abc"u8);
        device.RenameFile("log/old", "log/new");
        device.SyncDirectory("log");

        var after = device.Crash();

        Assert.False(after.FileExists("log/old"));
        Assert.True(after.FileExists("log/new"));
        Assert.Equal("abc"u8.ToArray(), after.ReadAllBytes("log/new"));
    }

    [Fact]
    public void Syncing_another_directory_does_not_make_the_rename_durable()
    {
        var device = DeviceWithSyncedFile("log/old", "abc"u8);
        device.RenameFile("log/old", "log/new");
        device.SyncDirectory(string.Empty);

        var after = device.Crash();

        Assert.True(after.FileExists("log/old"));
        Assert.False(after.FileExists("log/new"));
    }

    [Fact]
    public void Unsynced_writes_follow_the_usual_crash_rules_under_the_new_name()
    {
        var device = DeviceWithSyncedFile("log/old", "abc"u8);
        using (var file = device.Open("log/old", create: false))
        {
            file.Write(3, "def"u8);
        }

        device.RenameFile("log/old", "log/new");
        device.SyncDirectory("log");
        Assert.Single(device.UnsyncedWrites("log/new"));

        var lost = device.Crash();
        Assert.Equal("abc"u8.ToArray(), lost.ReadAllBytes("log/new"));

        using (var file = lost.Open("log/new", create: false))
        {
            file.Write(3, "ghi"u8);
        }

        var seenAs = new List<string>();
        var torn = lost.Crash((path, writes) =>
        {
            seenAs.Add(path);
            return KeptWrites.FirstBytes(writes, 2);
        });

        Assert.Equal(["log/new"], seenAs);
        Assert.Equal("abcgh"u8.ToArray(), torn.ReadAllBytes("log/new"));
    }

    [Fact]
    public void An_unsynced_rename_hands_the_crash_the_old_name_and_its_unsynced_writes()
    {
        var device = DeviceWithSyncedFile("log/old", "abc"u8);
        using (var file = device.Open("log/old", create: false))
        {
            file.Write(3, "def"u8);
        }

        device.RenameFile("log/old", "log/new");

        var seenAs = new List<string>();
        var after = device.Crash((path, writes) =>
        {
            seenAs.Add(path);
            return KeptWrites.All(writes);
        });

        Assert.Equal(["log/old"], seenAs);
        Assert.Equal("abcdef"u8.ToArray(), after.ReadAllBytes("log/old"));
        Assert.False(after.FileExists("log/new"));
    }

    [Fact]
    public void A_file_never_made_durable_is_gone_under_either_name()
    {
        var device = new FaultyDevice();
        device.CreateDirectory("log");
        device.SyncDirectory(string.Empty);
        device.Open("log/old", create: true).Dispose();
        device.RenameFile("log/old", "log/new");

        var after = device.Crash();

        Assert.Empty(after.ListFiles("log"));
    }

    [Fact]
    public void Renaming_a_missing_file_throws_FileNotFound()
    {
        var device = DeviceWithSyncedFile("log/old", "abc"u8);

        Assert.Throws<FileNotFoundException>(() => device.RenameFile("log/missing", "log/new"));
        Assert.Throws<FileNotFoundException>(() => device.RenameFile("nowhere/missing", "nowhere/new"));
        Assert.Throws<FileNotFoundException>(() => device.RenameFile("log", "spare"));
        Assert.False(device.FileExists("log/new"));
    }

    [Fact]
    public void Renaming_onto_an_existing_name_throws_and_changes_nothing()
    {
        var device = DeviceWithSyncedFile("log/old", "abc"u8);
        using (var other = device.Open("log/taken", create: true))
        {
            other.Write(0, "xyz"u8);
        }

        var error = Assert.Throws<IOException>(() => device.RenameFile("log/old", "log/taken"));

        Assert.IsNotAssignableFrom<FileNotFoundException>(error);
        Assert.Equal("abc"u8.ToArray(), device.ReadAllBytes("log/old"));
        Assert.Equal("xyz"u8.ToArray(), device.ReadAllBytes("log/taken"));
    }

    [Fact]
    public void Renaming_across_directories_is_refused()
    {
        var device = DeviceWithSyncedFile("log/old", "abc"u8);
        device.CreateDirectory("spare");

        Assert.Throws<ArgumentException>(() => device.RenameFile("log/old", "spare/old"));
        Assert.True(device.FileExists("log/old"));
    }

    [Fact]
    public void A_handle_opened_before_the_rename_still_reads_and_writes_the_file()
    {
        var device = DeviceWithSyncedFile("log/old", "abc"u8);
        using var file = device.Open("log/old", create: false);

        device.RenameFile("log/old", "log/new");
        file.Write(3, "def"u8);
        file.Flush();

        var read = new byte[6];
        Assert.Equal(6, file.Read(0, read));
        Assert.Equal("abcdef"u8.ToArray(), read);
        Assert.Equal("abcdef"u8.ToArray(), device.ReadAllBytes("log/new"));
        Assert.Empty(device.UnsyncedWrites("log/new"));
    }

    [Fact]
    public void A_retired_view_refuses_to_rename()
    {
        var device = DeviceWithSyncedFile("log/old", "abc"u8);
        var after = device.Crash();

        Assert.Throws<IOException>(() => device.RenameFile("log/old", "log/new"));
        Assert.True(after.FileExists("log/old"));
        Assert.False(after.FileExists("log/new"));
    }

    /// <summary>A device holding one file whose contents and name are both durable.</summary>
    private static FaultyDevice DeviceWithSyncedFile(string path, ReadOnlySpan<byte> contents)
    {
        var device = new FaultyDevice();
        var directory = path[..path.LastIndexOf('/')];
        device.CreateDirectory(directory);
        device.SyncDirectory(string.Empty);
        using (var file = device.Open(path, create: true))
        {
            file.Write(0, contents);
            file.Flush();
        }

        device.SyncDirectory(directory);
        return device;
    }
}
