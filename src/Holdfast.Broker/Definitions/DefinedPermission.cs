namespace Holdfast.Broker.Definitions;

/// <summary>A permission entry from a definitions file: the user's three patterns in one virtual host.</summary>
internal sealed record DefinedPermission(string VirtualHost, string User, string Configure, string Write, string Read);
