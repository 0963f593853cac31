namespace Holdfast.Broker.Security;

/// <summary>
/// A user as the rest of the broker sees it: a name and its tags (<c>administrator</c>,
/// <c>monitoring</c>, ...). The password hash stays inside the security namespace.
/// </summary>
public sealed class UserAccount
{
    internal UserAccount(string name, IReadOnlyList<string> tags, PasswordHash password)
    {
        Name = name;

        // A read-only copy: tags carry rights (administrator), and no holder of this object may edit them.
        Tags = Array.AsReadOnly([.. tags]);
        Password = password;
    }

    public string Name { get; }

    public IReadOnlyList<string> Tags { get; }

    internal PasswordHash Password { get; }

    public bool HasTag(string tag) => Tags.Contains(tag, StringComparer.Ordinal);
}
