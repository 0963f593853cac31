using Holdfast.Broker.Security;

namespace Holdfast.Broker.Tests.Security;

public sealed class DefaultUserTests
{
    [Fact]
    public async Task A_fresh_store_gets_vhost_slash_and_guest_with_full_permissions_as_in_RabbitMQ()
    {
        await using var store = await SecurityStore.CreateAsync();
        var directory = await store.LoadAsync();

        Assert.Equal(["/"], directory.ListVirtualHosts());
        var guest = Assert.Single(directory.ListUsers());
        Assert.Equal("guest", guest.Name);
        Assert.Equal(["administrator"], guest.Tags);
        Assert.True(directory.Authenticate("guest", "guest").Succeeded);
        var permissions = directory.FindPermissions("/", "guest");
        Assert.NotNull(permissions);
        Assert.Equal((".*", ".*", ".*"), (permissions.Configure, permissions.Write, permissions.Read));
        Assert.True(directory.CanAccessVirtualHost("guest", "/"));
    }

    [Fact]
    public async Task The_defaults_are_written_to_the_store_under_the_documented_keys()
    {
        await using var store = await SecurityStore.CreateAsync();
        await store.LoadAsync();

        var keys = store.Store.GetMetadata().Keys.Order(StringComparer.Ordinal).ToList();
        Assert.Equal(["permission/1///guest", "user/guest", "vhost//"], keys);
    }

    [Fact]
    public async Task Guest_is_not_recreated_after_the_operator_deleted_it()
    {
        await using var store = await SecurityStore.CreateAsync();
        var directory = await store.LoadAsync();
        Assert.True(await directory.AddUserAsync("admin", "secret", ["administrator"]));
        Assert.True(await directory.DeleteUserAsync("guest"));

        directory = await store.RestartAsync();

        Assert.Null(directory.FindUser("guest"));
        Assert.False(directory.Authenticate("guest", "guest").Succeeded);
    }

    [Fact]
    public async Task A_store_with_a_virtual_host_but_no_user_is_not_seeded_again()
    {
        await using var store = await SecurityStore.CreateAsync();
        var directory = await store.LoadAsync();
        Assert.True(await directory.DeleteUserAsync("guest"));

        directory = await store.RestartAsync();

        Assert.Empty(directory.ListUsers());
        Assert.Equal(["/"], directory.ListVirtualHosts());
    }

    [Fact]
    public async Task A_first_start_cut_short_after_its_first_record_is_completed_at_the_next_start()
    {
        await using var store = await SecurityStore.CreateAsync();

        // What a crash leaves after the seeding marker and the vhost reached the disk, but not the user.
        await store.Store.PutMetadataAsync("security/seeding", [1]);
        await store.Store.PutMetadataAsync("vhost//", [1]);
        var directory = await store.LoadAsync();

        Assert.True(directory.Authenticate("guest", "guest").Succeeded);
        Assert.True(directory.CanAccessVirtualHost("guest", "/"));
        Assert.DoesNotContain("security/seeding", store.Store.GetMetadata().Keys);
    }
}
