using System.Collections.Immutable;

namespace Holdfast.Broker.Security;

/// <summary>
/// Every virtual host, user and permission at one moment. Never changed in place: a write builds the
/// next state and swaps it in, so a login or a permission check reads one consistent snapshot without a lock.
/// </summary>
internal sealed record SecurityState(
    ImmutableHashSet<string> VirtualHosts,
    ImmutableDictionary<string, UserAccount> Users,
    ImmutableDictionary<(string VirtualHost, string User), UserPermissions> Permissions)
{
    public static SecurityState Empty { get; } = new(
        ImmutableHashSet.Create<string>(StringComparer.Ordinal),
        ImmutableDictionary.Create<string, UserAccount>(StringComparer.Ordinal),
        ImmutableDictionary<(string VirtualHost, string User), UserPermissions>.Empty);

    public SecurityState WithVirtualHost(string name) => this with { VirtualHosts = VirtualHosts.Add(name) };

    public SecurityState WithoutVirtualHost(string name) => this with { VirtualHosts = VirtualHosts.Remove(name) };

    public SecurityState WithUser(UserAccount user) => this with { Users = Users.SetItem(user.Name, user) };

    public SecurityState WithoutUser(string name) => this with { Users = Users.Remove(name) };

    public SecurityState WithPermissions(UserPermissions permissions) =>
        this with { Permissions = Permissions.SetItem((permissions.VirtualHost, permissions.User), permissions) };

    public SecurityState WithoutPermissions(string virtualHost, string user) => this with { Permissions = Permissions.Remove((virtualHost, user)) };
}
