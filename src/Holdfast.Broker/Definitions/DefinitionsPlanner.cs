using Holdfast.Broker.Policies;
using Holdfast.Broker.Queues;
using Holdfast.Broker.Routing;
using Holdfast.Broker.Security;
using Holdfast.Broker.Topology;

namespace Holdfast.Broker.Definitions;

/// <summary>
/// Compares a read definitions file with what the broker has, before anything is written: each
/// entity is either already there exactly as described (nothing to do), missing (a step creates it),
/// or there with other properties, or pointing at something neither the file nor the broker has (a
/// problem). Problems are gathered, not thrown one by one, so that one failed start lists them all and
/// an import with any problem changes nothing.
/// </summary>
internal sealed class DefinitionsPlanner
{
    // Only to validate patterns here; the directory compiles its own when they are set.
    private static readonly TimeSpan s_patternTimeout = TimeSpan.FromMilliseconds(100);

    private readonly MessageBroker _broker;
    private readonly UserDirectory? _users;
    private readonly DefinitionsImportReport _report;
    private readonly List<ImportStep> _steps = [];
    private readonly List<string> _problems = [];

    // What the file itself defines, so that later sections may refer to it and repeats can be checked.
    private readonly HashSet<string> _vhosts = new(StringComparer.Ordinal);
    private readonly Dictionary<string, DefinedUser> _definedUsers = new(StringComparer.Ordinal);
    private readonly Dictionary<(string VirtualHost, string User), DefinedPermission> _permissions = [];
    private readonly Dictionary<(string VirtualHost, string Name), PolicyDefinition> _policies = [];
    private readonly Dictionary<(string VirtualHost, string Name), ExchangeDefinition> _exchanges = [];
    private readonly Dictionary<(string VirtualHost, string Name), QueueDefinition> _queues = [];
    private readonly HashSet<string> _bindings = new(StringComparer.Ordinal);

    private DefinitionsPlanner(MessageBroker broker, DefinitionsImportReport report)
    {
        _broker = broker;
        _users = broker.Users;
        _report = report;
    }

    /// <summary>The steps to run, in dependency order, and the problems that forbid running any.</summary>
    public static (IReadOnlyList<ImportStep> Steps, IReadOnlyList<string> Problems) Plan(DefinitionsDocument document, MessageBroker broker, DefinitionsImportReport report)
    {
        var planner = new DefinitionsPlanner(broker, report);
        planner.PlanSecurity(document);
        foreach (var policy in document.Policies)
        {
            planner.PlanPolicy(policy.VirtualHost, policy.Definition);
        }

        foreach (var exchange in document.Exchanges)
        {
            planner.PlanExchange(exchange.VirtualHost, exchange.Definition);
        }

        foreach (var queue in document.Queues)
        {
            planner.PlanQueue(queue.VirtualHost, queue.Definition);
        }

        foreach (var binding in document.Bindings)
        {
            planner.PlanBinding(binding);
        }

        return (planner._steps, planner._problems);
    }

    private void PlanSecurity(DefinitionsDocument document)
    {
        if (_users is null)
        {
            // An embedded broker without permission checks: any vhost name is usable, and there is no one to log in.
            SkipSection("vhosts", document.VirtualHosts.Count);
            SkipSection("users", document.Users.Count);
            SkipSection("permissions", document.Permissions.Count);
            return;
        }

        foreach (var vhost in document.VirtualHosts)
        {
            PlanVirtualHost(_users, vhost);
        }

        foreach (var user in document.Users)
        {
            PlanUser(_users, user);
        }

        foreach (var permission in document.Permissions)
        {
            PlanPermission(_users, permission);
        }
    }

    private void SkipSection(string section, int count)
    {
        if (count > 0)
        {
            _report.AddSkipped($"\"{section}\" ({count} {(count == 1 ? "entry" : "entries")}): this broker runs without a user directory");
        }
    }

    private void PlanVirtualHost(UserDirectory users, string name)
    {
        var entity = $"vhost '{name}'";
        if (!Valid(() => SecurityNames.ValidateName(name, "virtual host", "name"), entity) || !_vhosts.Add(name))
        {
            return;
        }

        if (users.VirtualHostExists(name))
        {
            _report.AddUnchanged("vhost", entity);
            return;
        }

        _steps.Add(new("vhost", entity, async ct => await users.AddVirtualHostAsync(name, ct).ConfigureAwait(false)));
    }

    private void PlanUser(UserDirectory users, DefinedUser user)
    {
        var entity = $"user '{user.Name}'";
        if (!Valid(() => ValidateUser(user), entity))
        {
            return;
        }

        if (_definedUsers.TryGetValue(user.Name, out var earlier))
        {
            if (!SameUser(earlier, user))
            {
                _problems.Add($"{entity} is defined twice in the file, differently");
            }

            return;
        }

        _definedUsers[user.Name] = user;
        if (users.FindUser(user.Name) is { } existing)
        {
            Compare("user", entity, UserDifference(existing, user));
            return;
        }

        if (user.Hash is { } hash)
        {
            _steps.Add(new("user", entity, async ct => await users.AddUserWithHashAsync(user.Name, hash, user.Tags, ct).ConfigureAwait(false)));
        }
        else
        {
            _steps.Add(new("user", entity, async ct => await users.AddUserAsync(user.Name, user.Password!, user.Tags, ct).ConfigureAwait(false)));
        }
    }

    private static void ValidateUser(DefinedUser user)
    {
        SecurityNames.ValidateName(user.Name, "user", "name");
        foreach (var tag in user.Tags)
        {
            SecurityNames.ValidateName(tag, "tag", "tags");
        }

        if (user.Password is not null)
        {
            SecurityNames.ValidateText(user.Password, "password", "password");
        }
    }

    private static bool SameUser(DefinedUser a, DefinedUser b) =>
        a.Tags.Order(StringComparer.Ordinal).SequenceEqual(b.Tags.Order(StringComparer.Ordinal), StringComparer.Ordinal)
        && (a.Hash, b.Hash) switch
        {
            ({ } x, { } y) => x.SameAs(y),
            (null, null) => string.Equals(a.Password, b.Password, StringComparison.Ordinal),
            _ => false,
        };

    private static string? UserDifference(UserAccount existing, DefinedUser user)
    {
        var current = existing.Tags.Order(StringComparer.Ordinal).ToList();
        var wanted = user.Tags.Order(StringComparer.Ordinal).ToList();
        if (!current.SequenceEqual(wanted, StringComparer.Ordinal))
        {
            return $"has tags [{string.Join(", ", current)}] in the broker but [{string.Join(", ", wanted)}] in the file";
        }

        if (user.Hash is { } hash)
        {
            return existing.Password.SameAs(hash)
                ? null
                : existing.Password.Algorithm == hash.Algorithm
                    ? "has a different password hash in the broker"
                    : $"has a {existing.Password.AlgorithmName} password in the broker, which cannot be compared with the file's {hash.AlgorithmName} hash (leave the user out of the file, or delete it from the broker first)";
        }

        // One slow check per such user and start: the file's plain password against the stored hash.
        return existing.Password.Verify(user.Password!) ? null : "has a different password in the broker";
    }

    private void PlanPermission(UserDirectory users, DefinedPermission permission)
    {
        var entity = $"permissions of user '{permission.User}' in vhost '{permission.VirtualHost}'";
        if (!Valid(() => ValidatePatterns(permission), entity) || !VirtualHostKnown(permission.VirtualHost, entity))
        {
            return;
        }

        if (users.FindUser(permission.User) is null && !_definedUsers.ContainsKey(permission.User))
        {
            _problems.Add($"{entity}: user '{permission.User}' is neither in the file's \"users\" nor in the broker");
            return;
        }

        var key = (permission.VirtualHost, permission.User);
        if (_permissions.TryGetValue(key, out var earlier))
        {
            if (earlier != permission)
            {
                _problems.Add($"{entity} are defined twice in the file, differently");
            }

            return;
        }

        _permissions[key] = permission;
        if (users.FindPermissions(permission.VirtualHost, permission.User) is { } existing)
        {
            var same = existing.Configure == permission.Configure && existing.Write == permission.Write && existing.Read == permission.Read;
            Compare("permission", entity, same ? null : $"are configure '{existing.Configure}', write '{existing.Write}', read '{existing.Read}' in the broker but configure '{permission.Configure}', write '{permission.Write}', read '{permission.Read}' in the file");
            return;
        }

        _steps.Add(new("permission", entity, ct => users.SetPermissionsAsync(permission.VirtualHost, permission.User, permission.Configure, permission.Write, permission.Read, ct)));
    }

    private static void ValidatePatterns(DefinedPermission permission)
    {
        foreach (var (pattern, name) in new[] { (permission.Configure, "configure"), (permission.Write, "write"), (permission.Read, "read") })
        {
            SecurityNames.ValidateText(pattern, $"{name} pattern", name);
            _ = PermissionPattern.Compile(pattern, s_patternTimeout, name);
        }
    }

    private void PlanPolicy(string vhost, PolicyDefinition policy)
    {
        var entity = $"policy '{policy.Name}' in vhost '{vhost}'";
        if (!VirtualHostKnown(vhost, entity) || !Valid(() => PolicyResolver.Validate(policy, vhost), entity))
        {
            return;
        }

        if (_policies.TryGetValue((vhost, policy.Name), out var earlier))
        {
            if (PolicyDifference(earlier, policy) is not null)
            {
                _problems.Add($"{entity} is defined twice in the file, differently");
            }

            return;
        }

        _policies[(vhost, policy.Name)] = policy;
        var host = _broker.GetVirtualHost(vhost);
        if (host.Policies.FirstOrDefault(p => p.Name == policy.Name) is { } existing)
        {
            Compare("policy", entity, PolicyDifference(existing, policy));
            return;
        }

        _steps.Add(new("policy", entity, ct => host.SetPolicyAsync(policy, ct)));
    }

    private static string? PolicyDifference(PolicyDefinition current, PolicyDefinition wanted)
    {
        if (current.Pattern != wanted.Pattern)
        {
            return $"has pattern '{current.Pattern}' in the broker but '{wanted.Pattern}' in the file";
        }

        if (current.ApplyTo != wanted.ApplyTo)
        {
            return $"applies to {Lower(current.ApplyTo)} in the broker but to {Lower(wanted.ApplyTo)} in the file";
        }

        if (current.Priority != wanted.Priority)
        {
            return $"has priority {current.Priority} in the broker but {wanted.Priority} in the file";
        }

        return ArgumentEquivalence.FirstDifference(current.Definition, wanted.Definition)?.Replace("argument", "definition key", StringComparison.Ordinal);
    }

    private void PlanExchange(string vhost, ExchangeDefinition exchange)
    {
        var entity = $"exchange '{exchange.Name}' in vhost '{vhost}'";
        if (!VirtualHostKnown(vhost, entity))
        {
            return;
        }

        if (_exchanges.TryGetValue((vhost, exchange.Name), out var earlier))
        {
            if (ExchangeDifference(earlier, exchange) is not null)
            {
                _problems.Add($"{entity} is defined twice in the file, differently");
            }

            return;
        }

        _exchanges[(vhost, exchange.Name)] = exchange;
        var host = _broker.GetVirtualHost(vhost);
        if (host.FindExchange(exchange.Name) is { } existing)
        {
            Compare("exchange", entity, ExchangeDifference(existing, exchange));
            return;
        }

        _steps.Add(new("exchange", entity, ct => host.DeclareExchangeAsync(exchange, passive: false, ct)));
    }

    private static string? ExchangeDifference(ExchangeDefinition current, ExchangeDefinition wanted)
    {
        if (current.Kind != wanted.Kind || current.DelayedMessage != wanted.DelayedMessage)
        {
            return $"is of type {current.TypeName} in the broker but {wanted.TypeName} in the file";
        }

        return current.Durable != wanted.Durable ? Flag("durable", current.Durable, wanted.Durable)
            : current.AutoDelete != wanted.AutoDelete ? Flag("auto_delete", current.AutoDelete, wanted.AutoDelete)
            : current.Internal != wanted.Internal ? Flag("internal", current.Internal, wanted.Internal)
            : ArgumentEquivalence.FirstDifference(current.Arguments, wanted.Arguments);
    }

    private void PlanQueue(string vhost, QueueDefinition queue)
    {
        var entity = $"queue '{queue.Name}' in vhost '{vhost}'";
        if (!VirtualHostKnown(vhost, entity))
        {
            return;
        }

        if (_queues.TryGetValue((vhost, queue.Name), out var earlier))
        {
            if (QueueDifference(earlier, queue) is not null)
            {
                _problems.Add($"{entity} is defined twice in the file, differently");
            }

            return;
        }

        _queues[(vhost, queue.Name)] = queue;
        var host = _broker.GetVirtualHost(vhost);
        if (host.FindQueue(queue.Name) is { } existing)
        {
            Compare("queue", entity, existing.Definition.Exclusive ? "is an exclusive queue of a connection in the broker" : QueueDifference(existing.Definition, queue));
            return;
        }

        // The broker's own checks of queue arguments, here, so that a bad value stops the import before anything is written.
        if (Valid(() => _ = QueueLimits.From(queue.Arguments), entity) && Valid(() => _ = QueueSettings.From(queue.Arguments), entity))
        {
            _steps.Add(new("queue", entity, async ct => await host.DeclareQueueAsync(queue, connectionId: 0, passive: false, ct).ConfigureAwait(false)));
        }
    }

    private static string? QueueDifference(QueueDefinition current, QueueDefinition wanted) =>
        current.Durable != wanted.Durable ? Flag("durable", current.Durable, wanted.Durable)
        : current.AutoDelete != wanted.AutoDelete ? Flag("auto_delete", current.AutoDelete, wanted.AutoDelete)
        : ArgumentEquivalence.FirstDifference(current.Arguments, wanted.Arguments);

    private void PlanBinding(DefinedBinding binding)
    {
        var entity = binding.Describe();
        var vhost = binding.VirtualHost;
        if (!VirtualHostKnown(vhost, entity))
        {
            return;
        }

        var host = _broker.GetVirtualHost(vhost);
        var source = host.FindExchange(binding.Source) ?? _exchanges.GetValueOrDefault((vhost, binding.Source));
        if (source is null)
        {
            _problems.Add($"{entity}: exchange '{binding.Source}' is neither in the file's \"exchanges\" nor in the broker");
            return;
        }

        bool? durableDestination = binding.Destination.Kind == DestinationKind.Queue
            ? (host.FindQueue(binding.Destination.Name)?.Definition ?? _queues.GetValueOrDefault((vhost, binding.Destination.Name)))?.Durable
            : (host.FindExchange(binding.Destination.Name) ?? _exchanges.GetValueOrDefault((vhost, binding.Destination.Name)))?.Durable;
        if (durableDestination is null)
        {
            if (binding.Destination.Kind == DestinationKind.Queue && binding.Destination.Name.StartsWith("amq.", StringComparison.Ordinal))
            {
                _report.AddSkipped($"{entity}: its server-named queue is not imported");
            }
            else
            {
                _problems.Add($"{entity}: {binding.Destination} is neither in the file's \"{(binding.Destination.Kind == DestinationKind.Queue ? "queues" : "exchanges")}\" nor in the broker");
            }

            return;
        }

        // A binding's identity is its stored form (source, destination, key, arguments), as the broker keys it.
        var encoded = TopologyFormat.Encode(binding.Source, new Binding(binding.Destination, binding.RoutingKey, binding.Arguments.Count == 0 ? null : binding.Arguments));
        var key = TopologyFormat.BindingKey(vhost, encoded);
        if (!_bindings.Add(key))
        {
            return;
        }

        // Durable bindings are known by their record. A transient one cannot have survived to this start;
        // binding again is a no-op for the broker anyway, so at worst it is reported as imported twice.
        if (source.Durable && durableDestination == true && _broker.Store.HasMetadata(key))
        {
            _report.AddUnchanged("binding", entity);
            return;
        }

        _steps.Add(new("binding", entity, ct => binding.Destination.Kind == DestinationKind.Queue
            ? host.BindQueueAsync(binding.Destination.Name, binding.Source, binding.RoutingKey, binding.Arguments, connectionId: 0, ct)
            : host.BindExchangeAsync(binding.Destination.Name, binding.Source, binding.RoutingKey, binding.Arguments, ct)));
    }

    private bool VirtualHostKnown(string vhost, string entity)
    {
        if (_users is null || _users.VirtualHostExists(vhost) || _vhosts.Contains(vhost))
        {
            return true;
        }

        // The hint: a blank broker started with definitions has no "/" of its own, as RabbitMQ does not.
        var hint = vhost == "/" && _users.ListVirtualHosts().Count == 0 ? " (a blank broker that imports definitions at start creates no default vhost or user; add them to the file)" : "";
        _problems.Add($"{entity}: vhost '{vhost}' is neither in the file's \"vhosts\" nor in the broker{hint}");
        return false;
    }

    private void Compare(string kind, string entity, string? difference)
    {
        if (difference is null)
        {
            _report.AddUnchanged(kind, entity);
        }
        else
        {
            _problems.Add($"{entity} already exists and {difference}");
        }
    }

    private bool Valid(Action validate, string entity)
    {
        try
        {
            validate();
            return true;
        }
        catch (Exception ex) when (ex is ArgumentException or BrokerException)
        {
            _problems.Add($"{entity}: {ex.Message}");
            return false;
        }
    }

    private static string Flag(string name, bool current, bool wanted) =>
        $"has {name} {Lower(current)} in the broker but {Lower(wanted)} in the file";

    private static string Lower<T>(T value) => value?.ToString()?.ToLowerInvariant() ?? "none";
}
