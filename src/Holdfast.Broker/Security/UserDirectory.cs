using System.Collections.Immutable;
using System.Runtime.ExceptionServices;
using Holdfast.Storage;

namespace Holdfast.Broker.Security;

/// <summary>
/// The broker's virtual hosts, users and permissions, kept durably as store metadata with RabbitMQ's
/// semantics: a user may open a virtual host when it has permissions there, and each of its three
/// patterns (configure, write, read) is a regular expression searched for in a resource's name.
/// </summary>
/// <remarks>
/// <para>
/// Reads (logins, permission checks) take no lock: they read an immutable <see cref="SecurityState"/>
/// that writes replace. Writes are serialized, and each reaches the store's flush point before it
/// returns and before the change becomes visible, so nothing is granted that a crash could take back.
/// The store's default flush policy applies (<see cref="FlushPolicy.Sync"/> unless configured otherwise).
/// </para>
/// <para>
/// Changes that touch several records write them in an order that a crash cannot make unsafe:
/// a user's or vhost's permissions go before the user or vhost itself, and a permission whose user
/// or vhost is missing at load (a torn write may lose one record of a batch and keep a later one) is
/// deleted then, so that re-creating the name later cannot bring it back to life.
/// </para>
/// </remarks>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1001:Types that own disposable fields should be disposable", Justification = "The semaphore's wait handle is never requested, so there is nothing to release; the directory lives as long as the broker.")]
public sealed class UserDirectory
{
    private const string DefaultVirtualHost = "/";
    private const string DefaultUser = "guest";
    private const string DefaultPassword = "guest";
    private const string DefaultUserTag = "administrator";
    private const string AllResources = ".*";

    private readonly MessageStore _store;
    private readonly SecurityOptions _options;
    private readonly ImmutableHashSet<string> _loopbackUsers;
    private readonly VerifiedPasswordCache _verified;
    private readonly PasswordHash _decoy;
    private readonly SemaphoreSlim _writeLock = new(1, 1);

    // Identical patterns share one compiled Regex (".*" is on nearly every user). Guarded by _writeLock.
    private readonly Dictionary<string, PermissionPattern> _patterns = new(StringComparer.Ordinal);

    private volatile SecurityState _state = SecurityState.Empty;
    private long _passwordDerivations;

    private UserDirectory(MessageStore store, SecurityOptions options, TimeProvider time)
    {
        _store = store;
        _options = options;
        _loopbackUsers = ImmutableHashSet.CreateRange(StringComparer.Ordinal, options.LoopbackUsers);
        _verified = new VerifiedPasswordCache(time, options.VerifiedPasswordLifetime);
        _decoy = PasswordHash.Decoy(options.PasswordIterations);
    }

    /// <summary>Full PBKDF2 derivations done by logins so far; lets a test see the cache at work.</summary>
    internal long PasswordDerivations => Interlocked.Read(ref _passwordDerivations);

    internal bool IsPasswordVerificationCached(string user) => _verified.IsRemembered(user);

    /// <summary>
    /// Reads the users, virtual hosts and permissions from <paramref name="store"/>. On a store that has
    /// none yet it creates RabbitMQ's defaults: vhost <c>/</c>, user <c>guest</c> / <c>guest</c> tagged
    /// <c>administrator</c>, with <c>.*</c> for configure, write and read on <c>/</c>.
    /// </summary>
    /// <param name="time">Ages the cache of verified passwords; the system clock by default.</param>
    /// <exception cref="InvalidDataException">A record in a format version this build does not read.</exception>
    public static async Task<UserDirectory> LoadAsync(MessageStore store, TimeProvider? time = null, SecurityOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(store);
        options ??= new SecurityOptions();
        options.Validate();
        var directory = new UserDirectory(store, options, time ?? TimeProvider.System);
        await directory.LoadFromStoreAsync().ConfigureAwait(false);
        return directory;
    }

    public bool VirtualHostExists(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        return _state.VirtualHosts.Contains(name);
    }

    /// <summary>Every virtual host, in ordinal order.</summary>
    public IReadOnlyList<string> ListVirtualHosts() => [.. _state.VirtualHosts.Order(StringComparer.Ordinal)];

    public UserAccount? FindUser(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        return _state.Users.GetValueOrDefault(name);
    }

    /// <summary>Every user, in ordinal order of name.</summary>
    public IReadOnlyList<UserAccount> ListUsers() => [.. _state.Users.Values.OrderBy(u => u.Name, StringComparer.Ordinal)];

    public UserPermissions? FindPermissions(string virtualHost, string user)
    {
        ArgumentNullException.ThrowIfNull(virtualHost);
        ArgumentNullException.ThrowIfNull(user);
        return _state.Permissions.GetValueOrDefault((virtualHost, user));
    }

    /// <summary>Every permission entry, ordered by virtual host and then user.</summary>
    public IReadOnlyList<UserPermissions> ListPermissions() =>
        [.. _state.Permissions.Values.OrderBy(p => p.VirtualHost, StringComparer.Ordinal).ThenBy(p => p.User, StringComparer.Ordinal)];

    /// <summary>
    /// Checks a user's password. Slow by design when the password was not verified lately (one PBKDF2
    /// derivation, also for a user that does not exist, so timing does not tell which users do).
    /// </summary>
    public AuthenticationOutcome Authenticate(string user, string password)
    {
        ArgumentNullException.ThrowIfNull(user);
        ArgumentNullException.ThrowIfNull(password);
        if (!_state.Users.TryGetValue(user, out var account))
        {
            _ = Derive(_decoy, password);
            return AuthenticationOutcome.Refused($"user '{user}' not found");
        }

        byte[]? digest = null;
        if (_verified.IsEnabled)
        {
            digest = _verified.Digest(password);
            if (_verified.Contains(user, account.Password, digest))
            {
                return AuthenticationOutcome.Success;
            }
        }

        if (!Derive(account.Password, password))
        {
            if (!account.Password.IsSlow)
            {
                // A refusal costs what a missing user's does, so timing does not tell imported users from absent ones.
                _ = Derive(_decoy, password);
            }

            // RabbitMQ's wording, so that existing log alerts keep matching.
            return AuthenticationOutcome.Refused($"user '{user}' - invalid credentials");
        }

        if (digest is not null)
        {
            _verified.Remember(user, account.Password, digest);
        }

        return AuthenticationOutcome.Success;
    }

    /// <summary>Whether <paramref name="user"/> may log in only from a loopback address (<see cref="SecurityOptions.LoopbackUsers"/>).</summary>
    public bool IsLoopbackOnly(string user)
    {
        ArgumentNullException.ThrowIfNull(user);
        return _loopbackUsers.Contains(user);
    }

    /// <summary>Whether the user has a permission entry in the virtual host: what RabbitMQ requires at connection.open.</summary>
    public bool CanAccessVirtualHost(string user, string virtualHost)
    {
        ArgumentNullException.ThrowIfNull(user);
        ArgumentNullException.ThrowIfNull(virtualHost);
        return _state.Permissions.ContainsKey((virtualHost, user));
    }

    /// <summary>
    /// Whether the user's pattern for <paramref name="permission"/> in the virtual host matches
    /// anywhere in <paramref name="resourceName"/> (RabbitMQ's unanchored search). The caller names
    /// the default exchange <c>amq.default</c>, as RabbitMQ does; an empty pattern grants nothing.
    /// </summary>
    public bool IsAllowed(string user, string virtualHost, Permission permission, string resourceName)
    {
        ArgumentNullException.ThrowIfNull(user);
        ArgumentNullException.ThrowIfNull(virtualHost);
        ArgumentNullException.ThrowIfNull(resourceName);
        return _state.Permissions.TryGetValue((virtualHost, user), out var permissions) && permissions.Allows(permission, resourceName);
    }

    /// <summary>Creates a virtual host; false when it already exists (nothing is written then).</summary>
    /// <exception cref="ArgumentException">An empty name, or one longer than 255 UTF-8 bytes.</exception>
    public async Task<bool> AddVirtualHostAsync(string name, CancellationToken cancellationToken = default)
    {
        SecurityNames.ValidateName(name, "virtual host", nameof(name));
        await _writeLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_state.VirtualHosts.Contains(name))
            {
                return false;
            }

            await CommitAsync([Put(SecurityRecordFormat.VirtualHostKey(name), SecurityRecordFormat.EncodeVirtualHost(), s => s.WithVirtualHost(name))]).ConfigureAwait(false);
            return true;
        }
        finally
        {
            _writeLock.Release();
        }
    }

    /// <summary>Deletes a virtual host and every permission in it; false when there was none.</summary>
    /// <remarks>The vhost's exchanges and queues are the topology's to delete.</remarks>
    public async Task<bool> DeleteVirtualHostAsync(string name, CancellationToken cancellationToken = default)
    {
        SecurityNames.ValidateName(name, "virtual host", nameof(name));
        await _writeLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var state = _state;
            if (!state.VirtualHosts.Contains(name))
            {
                return false;
            }

            var changes = state.Permissions.Keys.Where(k => k.VirtualHost == name).Select(k => RemovePermissions(k.VirtualHost, k.User)).ToList();
            changes.Add(Delete(SecurityRecordFormat.VirtualHostKey(name), s => s.WithoutVirtualHost(name)));
            await CommitAsync(changes).ConfigureAwait(false);
            return true;
        }
        finally
        {
            _writeLock.Release();
        }
    }

    /// <summary>Creates a user; false when one of that name exists (its password is left alone).</summary>
    /// <exception cref="ArgumentException">An invalid name or tag, or an empty password.</exception>
    public async Task<bool> AddUserAsync(string name, string password, IEnumerable<string>? tags = null, CancellationToken cancellationToken = default)
    {
        SecurityNames.ValidateName(name, "user", nameof(name));
        _ = ValidateTags(tags);
        return await AddUserWithHashAsync(name, HashPassword(password), tags, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Creates a user whose password is known only as RabbitMQ stores it (what <c>rabbitmqctl
    /// export_definitions</c> writes): <paramref name="passwordHash"/> is the base64 of a 4-byte salt
    /// followed by the digest of salt ‖ UTF-8 password, <paramref name="hashingAlgorithm"/> the module
    /// that made it (<c>rabbit_password_hashing_sha256</c>, <c>_sha512</c> or <c>_md5</c>; also
    /// <c>rabbit_password_hashing_pbkdf2_sha256</c>). The hash is kept as it is and logins are checked
    /// against it; an empty hash makes a user that cannot log in with a password, as in RabbitMQ.
    /// False when a user of that name exists (it is left alone).
    /// </summary>
    /// <exception cref="ArgumentException">An invalid name or tag, an unknown algorithm, or a hash that algorithm does not produce.</exception>
    public async Task<bool> AddUserWithPasswordHashAsync(string name, string passwordHash, string hashingAlgorithm, IEnumerable<string>? tags = null, CancellationToken cancellationToken = default)
    {
        SecurityNames.ValidateName(name, "user", nameof(name));
        _ = ValidateTags(tags);
        return await AddUserWithHashAsync(name, PasswordHash.FromRabbitMq(hashingAlgorithm, passwordHash), tags, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Creates a user with a hash already made (or imported); false when one of that name exists.</summary>
    /// <exception cref="ArgumentException">An invalid name or tag.</exception>
    internal async Task<bool> AddUserWithHashAsync(string name, PasswordHash hash, IEnumerable<string>? tags, CancellationToken cancellationToken)
    {
        SecurityNames.ValidateName(name, "user", nameof(name));
        ArgumentNullException.ThrowIfNull(hash);
        var tagList = ValidateTags(tags);
        await _writeLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_state.Users.ContainsKey(name))
            {
                return false;
            }

            await CommitAsync([PutUser(new UserAccount(name, tagList, hash))]).ConfigureAwait(false);
            return true;
        }
        finally
        {
            _writeLock.Release();
        }
    }

    /// <summary>Sets a new password and forgets any cached verification of the old one; false when there is no such user.</summary>
    /// <exception cref="ArgumentException">An invalid name, or an empty password.</exception>
    public async Task<bool> ChangePasswordAsync(string name, string newPassword, CancellationToken cancellationToken = default)
    {
        SecurityNames.ValidateName(name, "user", nameof(name));
        var hash = HashPassword(newPassword, nameof(newPassword));
        await _writeLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (!_state.Users.TryGetValue(name, out var user))
            {
                return false;
            }

            await CommitAsync([PutUser(new UserAccount(name, user.Tags, hash))]).ConfigureAwait(false);
            _verified.Forget(name);
            return true;
        }
        finally
        {
            _writeLock.Release();
        }
    }

    /// <summary>Replaces a user's tags; false when there is no such user.</summary>
    /// <exception cref="ArgumentException">An invalid name or tag.</exception>
    public async Task<bool> SetTagsAsync(string name, IEnumerable<string> tags, CancellationToken cancellationToken = default)
    {
        SecurityNames.ValidateName(name, "user", nameof(name));
        ArgumentNullException.ThrowIfNull(tags);
        var tagList = ValidateTags(tags);
        await _writeLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (!_state.Users.TryGetValue(name, out var user))
            {
                return false;
            }

            await CommitAsync([PutUser(new UserAccount(name, tagList, user.Password))]).ConfigureAwait(false);
            return true;
        }
        finally
        {
            _writeLock.Release();
        }
    }

    /// <summary>Deletes a user and all its permissions; false when there was none.</summary>
    public async Task<bool> DeleteUserAsync(string name, CancellationToken cancellationToken = default)
    {
        SecurityNames.ValidateName(name, "user", nameof(name));
        await _writeLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var state = _state;
            if (!state.Users.ContainsKey(name))
            {
                return false;
            }

            var changes = state.Permissions.Keys.Where(k => k.User == name).Select(k => RemovePermissions(k.VirtualHost, k.User)).ToList();
            changes.Add(Delete(SecurityRecordFormat.UserKey(name), s => s.WithoutUser(name)));
            await CommitAsync(changes).ConfigureAwait(false);
            _verified.Forget(name);
            return true;
        }
        finally
        {
            _writeLock.Release();
        }
    }

    /// <summary>
    /// Sets (or replaces) what <paramref name="user"/> may do in <paramref name="virtualHost"/>. Each
    /// pattern is a regular expression searched for in resource names: <c>.*</c> grants everything,
    /// <c>""</c> nothing, <c>^amq\.gen-</c> the server-named resources.
    /// </summary>
    /// <exception cref="ArgumentException">An invalid name, or a pattern that is not a valid regular expression.</exception>
    /// <exception cref="KeyNotFoundException">The virtual host or the user does not exist.</exception>
    public async Task SetPermissionsAsync(string virtualHost, string user, string configure, string write, string read, CancellationToken cancellationToken = default)
    {
        SecurityNames.ValidateName(virtualHost, "virtual host", nameof(virtualHost));
        SecurityNames.ValidateName(user, "user", nameof(user));
        SecurityNames.ValidateText(configure, "configure pattern", nameof(configure));
        SecurityNames.ValidateText(write, "write pattern", nameof(write));
        SecurityNames.ValidateText(read, "read pattern", nameof(read));
        await _writeLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var permissions = new UserPermissions(virtualHost, user, Pattern(configure, nameof(configure)), Pattern(write, nameof(write)), Pattern(read, nameof(read)));
            var state = _state;
            if (!state.VirtualHosts.Contains(virtualHost))
            {
                throw new KeyNotFoundException($"vhost '{virtualHost}' not found");
            }

            if (!state.Users.ContainsKey(user))
            {
                throw new KeyNotFoundException($"user '{user}' not found");
            }

            await CommitAsync([PutPermissions(permissions)]).ConfigureAwait(false);
        }
        finally
        {
            _writeLock.Release();
        }
    }

    /// <summary>Removes the user's permissions in the virtual host (it can no longer open it); false when it had none.</summary>
    public async Task<bool> ClearPermissionsAsync(string virtualHost, string user, CancellationToken cancellationToken = default)
    {
        SecurityNames.ValidateName(virtualHost, "virtual host", nameof(virtualHost));
        SecurityNames.ValidateName(user, "user", nameof(user));
        await _writeLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (!_state.Permissions.ContainsKey((virtualHost, user)))
            {
                return false;
            }

            await CommitAsync([RemovePermissions(virtualHost, user)]).ConfigureAwait(false);
            return true;
        }
        finally
        {
            _writeLock.Release();
        }
    }

    private async Task LoadFromStoreAsync()
    {
        var metadata = _store.GetMetadata();
        var state = SecurityState.Empty;
        var stored = new List<(string Key, string VirtualHost, string User, string Configure, string Write, string Read)>();
        foreach (var (key, value) in metadata)
        {
            if (key.StartsWith(SecurityRecordFormat.VirtualHostPrefix, StringComparison.Ordinal))
            {
                SecurityRecordFormat.DecodeVirtualHost(key, value);
                state = state.WithVirtualHost(key[SecurityRecordFormat.VirtualHostPrefix.Length..]);
            }
            else if (key.StartsWith(SecurityRecordFormat.UserPrefix, StringComparison.Ordinal))
            {
                var (tags, password) = SecurityRecordFormat.DecodeUser(key, value);
                state = state.WithUser(new UserAccount(key[SecurityRecordFormat.UserPrefix.Length..], tags, password));
            }
            else if (key.StartsWith(SecurityRecordFormat.PermissionPrefix, StringComparison.Ordinal))
            {
                if (!SecurityRecordFormat.TryParsePermissionKey(key, out var virtualHost, out var user))
                {
                    throw new InvalidDataException($"metadata key '{key}' is not a permission key this version of Holdfast understands");
                }

                var (configure, write, read) = SecurityRecordFormat.DecodePermissions(key, value);
                stored.Add((key, virtualHost, user, configure, write, read));
            }
        }

        var orphans = new List<Change>();
        foreach (var p in stored)
        {
            if (!state.VirtualHosts.Contains(p.VirtualHost) || !state.Users.ContainsKey(p.User))
            {
                orphans.Add(Delete(p.Key, s => s));
                continue;
            }

            try
            {
                state = state.WithPermissions(new UserPermissions(p.VirtualHost, p.User, Pattern(p.Configure, "configure"), Pattern(p.Write, "write"), Pattern(p.Read, "read")));
            }
            catch (ArgumentException ex)
            {
                throw new InvalidDataException($"metadata record '{p.Key}' holds a pattern this version cannot compile: {ex.Message}", ex);
            }
        }

        _state = state;
        if (orphans.Count > 0)
        {
            await CommitAsync(orphans).ConfigureAwait(false);
        }

        // A seeding cut short by a crash is finished whatever the options say now: it was begun on a blank store.
        if (metadata.ContainsKey(SecurityRecordFormat.SeedingKey) || (_options.CreateDefaults && state.Users.IsEmpty && state.VirtualHosts.IsEmpty))
        {
            await SeedDefaultsAsync().ConfigureAwait(false);
        }

        PrunePatterns();
    }

    /// <summary>
    /// Writes RabbitMQ's first-start defaults between a durable "seeding" marker and its removal: a
    /// crash part-way leaves the marker, and the next start writes them again.
    /// </summary>
    private async Task SeedDefaultsAsync()
    {
        await _store.PutMetadataAsync(SecurityRecordFormat.SeedingKey, [SecurityRecordFormat.Version]).ConfigureAwait(false);
        var guest = new UserAccount(DefaultUser, [DefaultUserTag], PasswordHash.Create(DefaultPassword, _options.PasswordIterations));
        var pattern = Pattern(AllResources, nameof(AllResources));
        await CommitAsync(
        [
            Put(SecurityRecordFormat.VirtualHostKey(DefaultVirtualHost), SecurityRecordFormat.EncodeVirtualHost(), s => s.WithVirtualHost(DefaultVirtualHost)),
            PutUser(guest),
            PutPermissions(new UserPermissions(DefaultVirtualHost, DefaultUser, pattern, pattern, pattern)),
        ]).ConfigureAwait(false);
        await _store.DeleteMetadataAsync(SecurityRecordFormat.SeedingKey).ConfigureAwait(false);
    }

    /// <summary>
    /// Writes the changes in order, then applies to the visible state each one that reached the flush
    /// point, stopping at the first failure (the store fails everything behind a failed write too), and
    /// rethrows that failure. Issuing them all before awaiting lets one group commit cover them.
    /// </summary>
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Usage", "VSTHRD003:Avoid awaiting foreign Tasks", Justification = "The tasks are the store writes this method issued a few lines above.")]
    private async Task CommitAsync(IReadOnlyList<Change> changes)
    {
        var pending = new List<Task>(changes.Count);
        Exception? failure = null;
        foreach (var change in changes)
        {
            try
            {
                pending.Add(change.Value is null ? _store.DeleteMetadataAsync(change.Key).AsTask() : _store.PutMetadataAsync(change.Key, change.Value).AsTask());
            }
            catch (Exception ex)
            {
                failure = ex;
                break;
            }
        }

        var state = _state;
        int applied = 0;
        for (int i = 0; i < pending.Count; i++)
        {
            try
            {
                await pending[i].ConfigureAwait(false);
                if (applied == i)
                {
                    state = changes[i].Apply(state);
                    applied++;
                }
            }
            catch (Exception ex)
            {
                // Every task is still awaited, so that no failure goes unobserved.
                failure ??= ex;
            }
        }

        _state = state;
        PrunePatterns();
        if (failure is not null)
        {
            ExceptionDispatchInfo.Throw(failure);
        }
    }

    private bool Derive(PasswordHash hash, string password)
    {
        if (hash.IsSlow)
        {
            Interlocked.Increment(ref _passwordDerivations);
        }

        return hash.Verify(password);
    }

    private PasswordHash HashPassword(string password, string parameterName = "password")
    {
        ArgumentNullException.ThrowIfNull(password, parameterName);
        if (password.Length == 0)
        {
            // PLAIN can carry an empty password; a user it would let in is a user anyone can be.
            throw new ArgumentException("A password cannot be empty.", parameterName);
        }

        SecurityNames.ValidateText(password, "password", parameterName);
        return PasswordHash.Create(password, _options.PasswordIterations);
    }

    private static string[] ValidateTags(IEnumerable<string>? tags)
    {
        var list = tags?.Distinct(StringComparer.Ordinal).ToArray() ?? [];
        foreach (var tag in list)
        {
            SecurityNames.ValidateName(tag, "tag", nameof(tags));
        }

        return list;
    }

    /// <summary>The compiled pattern for <paramref name="text"/>, shared with every other permission that uses it.</summary>
    private PermissionPattern Pattern(string text, string parameterName)
    {
        if (!_patterns.TryGetValue(text, out var pattern))
        {
            pattern = PermissionPattern.Compile(text, _options.PatternMatchTimeout, parameterName);
            _patterns[text] = pattern;
        }

        return pattern;
    }

    /// <summary>Drops compiled patterns no permission uses any more, so replaced patterns do not pile up.</summary>
    private void PrunePatterns()
    {
        var used = new HashSet<string>(StringComparer.Ordinal);
        foreach (var permissions in _state.Permissions.Values)
        {
            used.Add(permissions.Configure);
            used.Add(permissions.Write);
            used.Add(permissions.Read);
        }

        foreach (var text in _patterns.Keys.Where(t => !used.Contains(t)).ToList())
        {
            _patterns.Remove(text);
        }
    }

    private static Change Put(string key, byte[] value, Func<SecurityState, SecurityState> apply) => new(key, value, apply);

    private static Change Delete(string key, Func<SecurityState, SecurityState> apply) => new(key, null, apply);

    private static Change PutUser(UserAccount user) =>
        Put(SecurityRecordFormat.UserKey(user.Name), SecurityRecordFormat.EncodeUser(user.Tags, user.Password), s => s.WithUser(user));

    private static Change PutPermissions(UserPermissions permissions) =>
        Put(
            SecurityRecordFormat.PermissionKey(permissions.VirtualHost, permissions.User),
            SecurityRecordFormat.EncodePermissions(permissions.Configure, permissions.Write, permissions.Read),
            s => s.WithPermissions(permissions));

    private static Change RemovePermissions(string virtualHost, string user) =>
        Delete(SecurityRecordFormat.PermissionKey(virtualHost, user), s => s.WithoutPermissions(virtualHost, user));

    /// <summary>One metadata record to put (or delete, when <see cref="Value"/> is null) and what it does to the visible state.</summary>
    private sealed record Change(string Key, byte[]? Value, Func<SecurityState, SecurityState> Apply);
}
