namespace Holdfast.Broker.Security;

/// <summary>How the <see cref="UserDirectory"/> treats logins and passwords.</summary>
public sealed record SecurityOptions
{
    /// <summary>
    /// Users who may log in only over a loopback address, RabbitMQ's <c>loopback_users</c>. The default
    /// keeps the well-known <c>guest</c> / <c>guest</c> account from being a remote way in.
    /// </summary>
    public IReadOnlyList<string> LoopbackUsers { get; init; } = ["guest"];

    /// <summary>
    /// PBKDF2 iterations for passwords set from now on; a stored hash keeps the count it was made with.
    /// Lower than OWASP's 600 000 on purpose: after a restart every client reconnects at once with an
    /// empty verification cache, and each login costs one full derivation on the handshake path.
    /// </summary>
    public int PasswordIterations { get; init; } = 100_000;

    /// <summary>
    /// How long a successful password check is remembered, so that a reconnect storm does not pay
    /// PBKDF2 again for every connection. <see cref="TimeSpan.Zero"/> turns the cache off.
    /// </summary>
    public TimeSpan VerifiedPasswordLifetime { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>
    /// Longest a permission pattern may run against one resource name. Patterns are operator-written
    /// regular expressions; one that backtracks catastrophically must not stall a channel, so a
    /// check that times out is refused.
    /// </summary>
    public TimeSpan PatternMatchTimeout { get; init; } = TimeSpan.FromMilliseconds(100);

    /// <summary>
    /// Whether a store with no users and no virtual hosts gets RabbitMQ's first-start defaults (vhost
    /// <c>/</c>, user <c>guest</c>). Off when definitions are imported at start: RabbitMQ then does not
    /// create them either, so the file alone says who may log in.
    /// </summary>
    public bool CreateDefaults { get; init; } = true;

    /// <exception cref="ArgumentException">A value the directory cannot work with.</exception>
    public void Validate()
    {
        ArgumentNullException.ThrowIfNull(LoopbackUsers, nameof(LoopbackUsers));
        ArgumentOutOfRangeException.ThrowIfLessThan(PasswordIterations, PasswordHash.MinIterations, nameof(PasswordIterations));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(PasswordIterations, PasswordHash.MaxIterations, nameof(PasswordIterations));
        ArgumentOutOfRangeException.ThrowIfLessThan(VerifiedPasswordLifetime, TimeSpan.Zero, nameof(VerifiedPasswordLifetime));
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(PatternMatchTimeout, TimeSpan.Zero, nameof(PatternMatchTimeout));
        if (LoopbackUsers.Any(string.IsNullOrEmpty))
        {
            throw new ArgumentException("A loopback user name cannot be null or empty.", nameof(LoopbackUsers));
        }
    }
}
