using Holdfast.Broker.Routing;

namespace Holdfast.Broker.Topology;

/// <summary>An exchange as declared: what a redeclare must match and what a restart restores.</summary>
public sealed record ExchangeDefinition(
    string Name,
    ExchangeKind Kind,
    bool Durable,
    bool AutoDelete,
    bool Internal,
    IReadOnlyDictionary<string, object?> Arguments)
{
    /// <summary>The <c>alternate-exchange</c> argument, when it is a string.</summary>
    public string? AlternateExchange => TopologyArguments.GetString(Arguments, "alternate-exchange");
}
