using Holdfast.Broker.Security;

namespace Holdfast.Broker.Definitions;

/// <summary>
/// A user from a definitions file. Exactly one of <see cref="Hash"/> (RabbitMQ's exported hash, or
/// "no password" for an empty one) and <see cref="Password"/> (Holdfast's plain-text convenience) is set.
/// </summary>
internal sealed record DefinedUser(string Name, IReadOnlyList<string> Tags, PasswordHash? Hash, string? Password);
