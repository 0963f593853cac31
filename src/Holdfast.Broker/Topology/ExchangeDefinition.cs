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
    /// <summary>Declared as the delayed-message plugin's <c>x-delayed-message</c> type; <see cref="Kind"/> is its <c>x-delayed-type</c>.</summary>
    public bool DelayedMessage { get; init; }

    /// <summary>The type as a client names it.</summary>
    public string TypeName => DelayedMessage ? "x-delayed-message" : Kind.ToString().ToLowerInvariant();

    /// <summary>The <c>alternate-exchange</c> argument, when it is a string.</summary>
    public string? AlternateExchange => TopologyArguments.GetString(Arguments, "alternate-exchange");
}
