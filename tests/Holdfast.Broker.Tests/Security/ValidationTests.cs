using Holdfast.Broker.Security;

namespace Holdfast.Broker.Tests.Security;

public sealed class ValidationTests
{
    [Fact]
    public async Task Empty_names_are_refused_with_a_readable_message()
    {
        await using var store = await SecurityStore.CreateAsync();
        var directory = await store.LoadAsync();

        var user = await Assert.ThrowsAsync<ArgumentException>(() => directory.AddUserAsync("", "pw"));
        var vhost = await Assert.ThrowsAsync<ArgumentException>(() => directory.AddVirtualHostAsync(""));

        Assert.StartsWith("A user name cannot be empty.", user.Message, StringComparison.Ordinal);
        Assert.StartsWith("A virtual host name cannot be empty.", vhost.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Names_are_limited_to_255_UTF8_bytes_not_255_characters()
    {
        await using var store = await SecurityStore.CreateAsync();
        var directory = await store.LoadAsync();

        Assert.True(await directory.AddUserAsync(new string('u', 255), "pw"));
        Assert.True(await directory.AddVirtualHostAsync(new string('v', 255)));
        var tooLong = await Assert.ThrowsAsync<ArgumentException>(() => directory.AddUserAsync(new string('u', 256), "pw"));
        var wide = await Assert.ThrowsAsync<ArgumentException>(() => directory.AddVirtualHostAsync(new string('é', 128)));

        Assert.Contains("256 UTF-8 bytes", tooLong.Message, StringComparison.Ordinal);
        Assert.Contains("256 UTF-8 bytes", wide.Message, StringComparison.Ordinal);
        Assert.Null(directory.FindUser(new string('u', 256)));
        Assert.False(directory.VirtualHostExists(new string('é', 128)));
    }

    [Fact]
    public async Task A_name_that_is_not_valid_Unicode_is_refused_because_it_would_not_read_back_the_same()
    {
        await using var store = await SecurityStore.CreateAsync();
        var directory = await store.LoadAsync();

        await Assert.ThrowsAsync<ArgumentException>(() => directory.AddUserAsync("bad\uD800name", "pw"));
    }

    [Fact]
    public async Task An_empty_password_or_tag_is_refused()
    {
        await using var store = await SecurityStore.CreateAsync();
        var directory = await store.LoadAsync();

        await Assert.ThrowsAsync<ArgumentException>(() => directory.AddUserAsync("alice", ""));
        await Assert.ThrowsAsync<ArgumentException>(() => directory.ChangePasswordAsync("guest", ""));
        await Assert.ThrowsAsync<ArgumentException>(() => directory.AddUserAsync("alice", "pw", ["monitoring", ""]));

        Assert.Null(directory.FindUser("alice"));
        Assert.True(directory.Authenticate("guest", "guest").Succeeded);
    }

    [Fact]
    public async Task Adding_what_exists_changes_nothing_and_says_so()
    {
        await using var store = await SecurityStore.CreateAsync();
        var directory = await store.LoadAsync();

        Assert.False(await directory.AddUserAsync("guest", "other", ["monitoring"]));
        Assert.False(await directory.AddVirtualHostAsync("/"));

        Assert.True(directory.Authenticate("guest", "guest").Succeeded);
        Assert.Equal(["administrator"], directory.FindUser("guest")!.Tags);
        Assert.True(directory.CanAccessVirtualHost("guest", "/"));
    }

    [Fact]
    public async Task Changing_what_does_not_exist_says_so()
    {
        await using var store = await SecurityStore.CreateAsync();
        var directory = await store.LoadAsync();

        Assert.False(await directory.ChangePasswordAsync("nobody", "pw"));
        Assert.False(await directory.SetTagsAsync("nobody", ["monitoring"]));
        Assert.False(await directory.DeleteUserAsync("nobody"));
        Assert.False(await directory.DeleteVirtualHostAsync("nowhere"));
        Assert.False(await directory.ClearPermissionsAsync("/", "nobody"));
        Assert.Null(directory.FindUser("nobody"));
    }

    [Fact]
    public async Task Tags_are_replaced_durably_and_duplicates_dropped()
    {
        await using var store = await SecurityStore.CreateAsync();
        var directory = await store.LoadAsync();

        Assert.True(await directory.SetTagsAsync("guest", ["monitoring", "management", "monitoring"]));
        directory = await store.RestartAsync();

        Assert.Equal(["monitoring", "management"], directory.FindUser("guest")!.Tags);
        Assert.True(directory.FindUser("guest")!.HasTag("management"));
        Assert.False(directory.FindUser("guest")!.HasTag("administrator"));
        Assert.True(directory.Authenticate("guest", "guest").Succeeded);
    }
}
