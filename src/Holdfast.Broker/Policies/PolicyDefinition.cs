namespace Holdfast.Broker.Policies;

/// <summary>
/// A RabbitMQ-style policy: arguments applied to every queue and/or exchange of a virtual host
/// whose name matches <see cref="Pattern"/> (a regular expression, searched unanchored as
/// RabbitMQ does). Of the policies that match, the one with the highest priority applies.
/// Definition keys are RabbitMQ's policy keys (<c>message-ttl</c>, <c>dead-letter-exchange</c>,
/// <c>max-length</c>, <c>alternate-exchange</c>, …), without the <c>x-</c> of queue arguments.
/// </summary>
public sealed record PolicyDefinition(
    string Name,
    string Pattern,
    PolicyTarget ApplyTo,
    int Priority,
    IReadOnlyDictionary<string, object?> Definition);
