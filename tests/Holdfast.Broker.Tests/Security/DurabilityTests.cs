using Holdfast.Broker.Security;

namespace Holdfast.Broker.Tests.Security;

public sealed class DurabilityTests
{
    [Fact]
    public async Task Users_virtual_hosts_tags_and_permissions_survive_a_restart()
    {
        await using var store = await SecurityStore.CreateAsync();
        var directory = await store.LoadAsync();
        Assert.True(await directory.AddVirtualHostAsync("prod"));
        Assert.True(await directory.AddUserAsync("alice", "s3cret", ["monitoring", "policymaker"]));
        await directory.SetPermissionsAsync("prod", "alice", "^alice\\.", "^amq\\.default$|^orders", "");

        directory = await store.RestartAsync();

        Assert.Equal(["/", "prod"], directory.ListVirtualHosts());
        Assert.Equal(["monitoring", "policymaker"], directory.FindUser("alice")?.Tags);
        Assert.True(directory.Authenticate("alice", "s3cret").Succeeded);
        var permissions = directory.FindPermissions("prod", "alice");
        Assert.NotNull(permissions);
        Assert.Equal(("^alice\\.", "^amq\\.default$|^orders", ""), (permissions.Configure, permissions.Write, permissions.Read));
        Assert.True(directory.IsAllowed("alice", "prod", Permission.Write, "orders.eu"));
        Assert.False(directory.IsAllowed("alice", "prod", Permission.Read, "orders.eu"));
    }

    [Fact]
    public async Task A_changed_password_survives_a_restart_and_the_old_one_no_longer_works()
    {
        await using var store = await SecurityStore.CreateAsync();
        var directory = await store.LoadAsync();
        Assert.True(await directory.AddUserAsync("alice", "old-password"));
        Assert.True(directory.Authenticate("alice", "old-password").Succeeded);
        Assert.True(await directory.ChangePasswordAsync("alice", "new-password"));

        directory = await store.RestartAsync();

        Assert.True(directory.Authenticate("alice", "new-password").Succeeded);
        Assert.False(directory.Authenticate("alice", "old-password").Succeeded);
    }

    [Fact]
    public async Task A_completed_change_is_in_the_files_without_a_clean_shutdown()
    {
        await using var store = await SecurityStore.CreateAsync();
        var directory = await store.LoadAsync();
        Assert.True(await directory.AddVirtualHostAsync("prod"));
        Assert.True(await directory.AddUserAsync("alice", "s3cret"));
        await directory.SetPermissionsAsync("prod", "alice", ".*", ".*", ".*");

        await using var crashed = await store.OpenCrashImageAsync();
        var recovered = await UserDirectory.LoadAsync(crashed, options: SecurityStore.FastOptions);

        Assert.True(recovered.Authenticate("alice", "s3cret").Succeeded);
        Assert.True(recovered.CanAccessVirtualHost("alice", "prod"));
    }

    [Fact]
    public async Task A_change_the_store_could_not_write_is_refused_and_not_applied()
    {
        await using var store = await SecurityStore.CreateAsync();
        var directory = await store.LoadAsync();
        await store.Store.DisposeAsync();

        await Assert.ThrowsAnyAsync<ObjectDisposedException>(() => directory.AddUserAsync("alice", "s3cret"));
        await Assert.ThrowsAnyAsync<ObjectDisposedException>(() => directory.DeleteVirtualHostAsync("/"));

        Assert.Null(directory.FindUser("alice"));
        Assert.True(directory.VirtualHostExists("/"));
        Assert.True(directory.CanAccessVirtualHost("guest", "/"));
    }

    [Fact]
    public async Task A_deleted_user_stays_deleted_with_its_permissions_and_a_new_user_of_that_name_starts_with_none()
    {
        await using var store = await SecurityStore.CreateAsync();
        var directory = await store.LoadAsync();
        Assert.True(await directory.AddUserAsync("alice", "s3cret"));
        await directory.SetPermissionsAsync("/", "alice", ".*", ".*", ".*");
        Assert.True(await directory.DeleteUserAsync("alice"));

        directory = await store.RestartAsync();
        Assert.Null(directory.FindUser("alice"));
        Assert.True(await directory.AddUserAsync("alice", "other"));

        Assert.False(directory.CanAccessVirtualHost("alice", "/"));
        Assert.DoesNotContain("permission/1///alice", store.Store.GetMetadata().Keys);
    }

    [Fact]
    public async Task Names_containing_slashes_never_share_a_permission_record()
    {
        await using var store = await SecurityStore.CreateAsync();
        var directory = await store.LoadAsync();
        Assert.True(await directory.AddVirtualHostAsync("a/b"));
        Assert.True(await directory.AddVirtualHostAsync("a"));
        Assert.True(await directory.AddUserAsync("c", "pw"));
        Assert.True(await directory.AddUserAsync("b/c", "pw"));
        await directory.SetPermissionsAsync("a/b", "c", "^one$", "", "");
        await directory.SetPermissionsAsync("a", "b/c", "^two$", "", "");

        directory = await store.RestartAsync();

        Assert.Equal("^one$", directory.FindPermissions("a/b", "c")?.Configure);
        Assert.Equal("^two$", directory.FindPermissions("a", "b/c")?.Configure);
        Assert.Null(directory.FindPermissions("a", "c"));
    }

    [Fact]
    public async Task A_permission_whose_user_is_missing_at_load_is_deleted_so_a_new_user_cannot_inherit_it()
    {
        await using var store = await SecurityStore.CreateAsync();
        await store.LoadAsync();

        // What a torn batch can leave: the user's delete reached the disk, one of its permissions' deletes did not.
        await store.Store.PutMetadataAsync("permission/1///ghost", [1, 2, 0, (byte)'.', (byte)'*', 0, 0, 0, 0]);
        var directory = await store.RestartAsync();
        Assert.DoesNotContain("permission/1///ghost", store.Store.GetMetadata().Keys);
        Assert.True(await directory.AddUserAsync("ghost", "pw"));

        directory = await store.RestartAsync();

        Assert.False(directory.CanAccessVirtualHost("ghost", "/"));
    }

    [Theory]
    [InlineData("user/bob")]
    [InlineData("vhost/prod")]
    [InlineData("permission/1///guest")]
    public async Task A_record_in_an_unknown_format_version_stops_the_load_with_a_clear_error(string key)
    {
        await using var store = await SecurityStore.CreateAsync();
        await store.LoadAsync();
        await store.Store.PutMetadataAsync(key, [9, 0, 0, 0]);

        var error = await Assert.ThrowsAsync<InvalidDataException>(() => store.LoadAsync());

        Assert.Contains($"'{key}'", error.Message, StringComparison.Ordinal);
        Assert.Contains("version 9", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Other_metadata_in_the_store_is_left_alone()
    {
        await using var store = await SecurityStore.CreateAsync();
        await store.Store.PutMetadataAsync("exchange/1///amq.direct", [1, 2, 3]);

        var directory = await store.LoadAsync();

        Assert.True(directory.Authenticate("guest", "guest").Succeeded);
        Assert.Equal([1, 2, 3], store.Store.GetMetadata()["exchange/1///amq.direct"]);
    }
}
