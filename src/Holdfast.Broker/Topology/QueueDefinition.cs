namespace Holdfast.Broker.Topology;

/// <summary>A queue as declared: what a redeclare must match and what a restart restores.</summary>
public sealed record QueueDefinition(
    string Name,
    bool Durable,
    bool Exclusive,
    bool AutoDelete,
    IReadOnlyDictionary<string, object?> Arguments);
