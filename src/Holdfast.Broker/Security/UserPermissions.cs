namespace Holdfast.Broker.Security;

/// <summary>
/// What one user may do in one virtual host: a regular expression per kind of access, matched
/// against resource names. Having an entry at all is what lets the user open the virtual host.
/// </summary>
public sealed class UserPermissions
{
    private readonly PermissionPattern _configure;
    private readonly PermissionPattern _write;
    private readonly PermissionPattern _read;

    internal UserPermissions(string virtualHost, string user, PermissionPattern configure, PermissionPattern write, PermissionPattern read)
    {
        VirtualHost = virtualHost;
        User = user;
        _configure = configure;
        _write = write;
        _read = read;
    }

    public string VirtualHost { get; }

    public string User { get; }

    public string Configure => _configure.Text;

    public string Write => _write.Text;

    public string Read => _read.Text;

    /// <summary>Whether the pattern for <paramref name="permission"/> matches <paramref name="resourceName"/> anywhere.</summary>
    public bool Allows(Permission permission, string resourceName)
    {
        ArgumentNullException.ThrowIfNull(resourceName);
        return PatternFor(permission).IsMatch(resourceName);
    }

    internal PermissionPattern PatternFor(Permission permission) => permission switch
    {
        Permission.Configure => _configure,
        Permission.Write => _write,
        Permission.Read => _read,
        _ => throw new ArgumentOutOfRangeException(nameof(permission), permission, "Not a permission."),
    };
}
