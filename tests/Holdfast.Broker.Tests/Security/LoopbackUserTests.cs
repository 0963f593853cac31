using Holdfast.Broker.Security;

namespace Holdfast.Broker.Tests.Security;

public sealed class LoopbackUserTests
{
    [Fact]
    public async Task By_default_only_guest_is_loopback_only_as_in_RabbitMQ()
    {
        await using var store = await SecurityStore.CreateAsync();
        var directory = await store.LoadAsync();
        Assert.True(await directory.AddUserAsync("alice", "pw"));

        Assert.True(directory.IsLoopbackOnly("guest"));
        Assert.False(directory.IsLoopbackOnly("alice"));
        Assert.False(directory.IsLoopbackOnly("Guest"));
    }

    [Fact]
    public async Task The_list_is_an_option_and_an_empty_one_lets_guest_in_from_anywhere()
    {
        await using var store = await SecurityStore.CreateAsync();
        var open = await store.LoadAsync(SecurityStore.FastOptions with { LoopbackUsers = [] });
        var custom = await store.LoadAsync(SecurityStore.FastOptions with { LoopbackUsers = ["alice", "ops"] });

        Assert.False(open.IsLoopbackOnly("guest"));
        Assert.False(custom.IsLoopbackOnly("guest"));
        Assert.True(custom.IsLoopbackOnly("alice"));
        Assert.True(custom.IsLoopbackOnly("ops"));
    }

    [Fact]
    public void An_empty_name_in_the_list_is_a_configuration_error()
    {
        var options = new SecurityOptions { LoopbackUsers = ["guest", ""] };

        Assert.Throws<ArgumentException>(options.Validate);
    }
}
