using Holdfast.Broker.Policies;
using Holdfast.Broker.Topology;

namespace Holdfast.Broker.Definitions;

/// <summary>
/// A definitions file as read, before anything is compared with the broker: the sections Holdfast
/// imports, in file order, and what the reading itself set aside (sections and fields it does not import).
/// </summary>
internal sealed class DefinitionsDocument
{
    /// <summary><c>rabbitmq_version</c>, else <c>rabbit_version</c>: which RabbitMQ wrote the file, when it says.</summary>
    public string? RabbitVersion { get; set; }

    public List<string> VirtualHosts { get; } = [];

    public List<DefinedUser> Users { get; } = [];

    public List<DefinedPermission> Permissions { get; } = [];

    public List<ScopedDefinition<PolicyDefinition>> Policies { get; } = [];

    public List<ScopedDefinition<ExchangeDefinition>> Exchanges { get; } = [];

    public List<ScopedDefinition<QueueDefinition>> Queues { get; } = [];

    public List<DefinedBinding> Bindings { get; } = [];

    /// <summary>What was left out while reading, each with the reason, for the report.</summary>
    public List<string> Skipped { get; } = [];
}
