using System.Diagnostics;
using Holdfast.Broker.Security;

namespace Holdfast.Broker.Tests.Security;

public sealed class PermissionTests
{
    private static async Task<(SecurityStore Store, UserDirectory Directory)> WithAliceAsync(string configure, string write, string read, SecurityOptions? options = null)
    {
        var store = await SecurityStore.CreateAsync();
        var directory = await store.LoadAsync(options);
        Assert.True(await directory.AddUserAsync("alice", "pw"));
        await directory.SetPermissionsAsync("/", "alice", configure, write, read);
        return (store, directory);
    }

    [Theory]
    // RabbitMQ searches (re:run) rather than matching the whole name.
    [InlineData("amq", "x.amq.y", true)]
    [InlineData("orders", "eu.orders.v2", true)]
    [InlineData("^orders", "eu.orders", false)]
    [InlineData("^orders$", "orders", true)]
    [InlineData("^orders$", "orders2", false)]
    [InlineData("^amq\\.gen-.*", "amq.gen-JzTY20BRgKO-HjmUJj0wLg", true)]
    [InlineData("^amq\\.gen-.*", "my.amq.gen-1", false)]
    [InlineData("^amq\\.gen-.*", "amqXgen-1", false)]
    [InlineData("^(alice|shared)\\.", "shared.jobs", true)]
    [InlineData("^(alice|shared)\\.", "bob.jobs", false)]
    [InlineData(".*", "anything", true)]
    [InlineData(".*", "", true)]
    // An empty pattern grants nothing, not even a name it would trivially match.
    [InlineData("", "anything", false)]
    [InlineData("", "", false)]
    // Case matters, as in RabbitMQ.
    [InlineData("^Orders$", "orders", false)]
    public async Task A_pattern_is_a_regular_expression_searched_for_in_the_resource_name(string pattern, string resource, bool allowed)
    {
        var (store, directory) = await WithAliceAsync(pattern, pattern, pattern);
        await using var _ = store;

        Assert.Equal(allowed, directory.IsAllowed("alice", "/", Permission.Configure, resource));
        Assert.Equal(allowed, directory.IsAllowed("alice", "/", Permission.Write, resource));
        Assert.Equal(allowed, directory.IsAllowed("alice", "/", Permission.Read, resource));
    }

    [Fact]
    public async Task Configure_write_and_read_each_use_their_own_pattern()
    {
        var (store, directory) = await WithAliceAsync("^alice\\.", "^amq\\.default$", "");
        await using var _ = store;

        Assert.True(directory.IsAllowed("alice", "/", Permission.Configure, "alice.q"));
        Assert.False(directory.IsAllowed("alice", "/", Permission.Write, "alice.q"));
        Assert.False(directory.IsAllowed("alice", "/", Permission.Read, "alice.q"));
        Assert.True(directory.IsAllowed("alice", "/", Permission.Write, "amq.default"));
        Assert.False(directory.IsAllowed("alice", "/", Permission.Configure, "amq.default"));
    }

    [Fact]
    public async Task Without_an_entry_for_the_vhost_a_user_may_neither_open_it_nor_touch_anything_in_it()
    {
        var (store, directory) = await WithAliceAsync(".*", ".*", ".*");
        await using var _ = store;
        Assert.True(await directory.AddVirtualHostAsync("prod"));

        Assert.True(directory.CanAccessVirtualHost("alice", "/"));
        Assert.False(directory.CanAccessVirtualHost("alice", "prod"));
        Assert.False(directory.IsAllowed("alice", "prod", Permission.Read, "q"));
        Assert.False(directory.IsAllowed("bob", "/", Permission.Read, "q"));
    }

    [Fact]
    public async Task Empty_patterns_still_let_the_user_open_the_vhost_as_in_RabbitMQ()
    {
        var (store, directory) = await WithAliceAsync("", "", "");
        await using var _ = store;

        Assert.True(directory.CanAccessVirtualHost("alice", "/"));
        Assert.False(directory.IsAllowed("alice", "/", Permission.Configure, "q"));
    }

    [Fact]
    public async Task Setting_permissions_again_replaces_them_and_clearing_them_closes_the_vhost()
    {
        var (store, directory) = await WithAliceAsync(".*", ".*", ".*");
        await using var _ = store;

        await directory.SetPermissionsAsync("/", "alice", "", "", "^logs$");
        Assert.False(directory.IsAllowed("alice", "/", Permission.Configure, "logs"));
        Assert.True(directory.IsAllowed("alice", "/", Permission.Read, "logs"));

        Assert.True(await directory.ClearPermissionsAsync("/", "alice"));
        Assert.False(await directory.ClearPermissionsAsync("/", "alice"));
        Assert.False(directory.CanAccessVirtualHost("alice", "/"));
        Assert.False(directory.IsAllowed("alice", "/", Permission.Read, "logs"));
    }

    [Fact]
    public async Task Deleting_a_vhost_deletes_every_permission_in_it_and_only_those()
    {
        var (store, directory) = await WithAliceAsync(".*", ".*", ".*");
        await using var _ = store;
        Assert.True(await directory.AddVirtualHostAsync("prod"));
        await directory.SetPermissionsAsync("prod", "alice", ".*", ".*", ".*");
        await directory.SetPermissionsAsync("prod", "guest", ".*", ".*", ".*");

        Assert.True(await directory.DeleteVirtualHostAsync("prod"));
        Assert.False(await directory.DeleteVirtualHostAsync("prod"));

        Assert.False(directory.VirtualHostExists("prod"));
        Assert.Null(directory.FindPermissions("prod", "alice"));
        Assert.Null(directory.FindPermissions("prod", "guest"));
        Assert.True(directory.CanAccessVirtualHost("alice", "/"));
        Assert.DoesNotContain(store.Store.GetMetadata().Keys, k => k.StartsWith("permission/4/prod/", StringComparison.Ordinal));

        // A vhost created again under the same name starts with nobody allowed in, after a restart too.
        Assert.True(await directory.AddVirtualHostAsync("prod"));
        Assert.False(directory.CanAccessVirtualHost("alice", "prod"));
        directory = await store.RestartAsync();
        Assert.False(directory.CanAccessVirtualHost("alice", "prod"));
        Assert.False(directory.CanAccessVirtualHost("guest", "prod"));
        Assert.True(directory.CanAccessVirtualHost("guest", "/"));
    }

    [Fact]
    public async Task An_invalid_regular_expression_is_refused_and_the_previous_permissions_stay()
    {
        var (store, directory) = await WithAliceAsync("^a", "^b", "^c");
        await using var _ = store;

        var error = await Assert.ThrowsAsync<ArgumentException>(() => directory.SetPermissionsAsync("/", "alice", ".*", "(unclosed", ".*"));

        Assert.Equal("write", error.ParamName);
        Assert.Contains("(unclosed", error.Message, StringComparison.Ordinal);
        Assert.Equal("^b", directory.FindPermissions("/", "alice")?.Write);
        directory = await store.RestartAsync();
        Assert.Equal("^b", directory.FindPermissions("/", "alice")?.Write);
    }

    [Fact]
    public async Task Permissions_need_an_existing_user_and_vhost()
    {
        await using var store = await SecurityStore.CreateAsync();
        var directory = await store.LoadAsync();

        var noVhost = await Assert.ThrowsAsync<KeyNotFoundException>(() => directory.SetPermissionsAsync("prod", "guest", ".*", ".*", ".*"));
        var noUser = await Assert.ThrowsAsync<KeyNotFoundException>(() => directory.SetPermissionsAsync("/", "bob", ".*", ".*", ".*"));

        Assert.Equal("vhost 'prod' not found", noVhost.Message);
        Assert.Equal("user 'bob' not found", noUser.Message);
        Assert.Null(directory.FindPermissions("/", "bob"));
    }

    [Fact]
    public async Task Identical_patterns_are_compiled_once_and_shared()
    {
        var (store, directory) = await WithAliceAsync("^x", ".*", ".*");
        await using var _ = store;

        var alice = directory.FindPermissions("/", "alice")!;
        var guest = directory.FindPermissions("/", "guest")!;

        Assert.Same(alice.PatternFor(Permission.Read), guest.PatternFor(Permission.Read));
        Assert.Same(alice.PatternFor(Permission.Write), guest.PatternFor(Permission.Configure));
        Assert.NotSame(alice.PatternFor(Permission.Configure), guest.PatternFor(Permission.Configure));
    }

    [Fact]
    public async Task A_pattern_that_backtracks_without_end_is_cut_off_by_the_timeout_and_refuses()
    {
        var options = SecurityStore.FastOptions with { PatternMatchTimeout = TimeSpan.FromMilliseconds(50) };
        var (store, directory) = await WithAliceAsync("^(a|aa)+$", ".*", ".*", options);
        await using var _ = store;

        var stopwatch = Stopwatch.StartNew();
        bool allowed = directory.IsAllowed("alice", "/", Permission.Configure, new string('a', 64) + "!");

        Assert.False(allowed);
        Assert.True(stopwatch.Elapsed < TimeSpan.FromSeconds(10), $"took {stopwatch.Elapsed}");
    }
}
