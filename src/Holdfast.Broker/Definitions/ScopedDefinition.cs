namespace Holdfast.Broker.Definitions;

/// <summary>An exchange, queue or policy from a definitions file with the virtual host it belongs to.</summary>
internal sealed record ScopedDefinition<T>(string VirtualHost, T Definition);
