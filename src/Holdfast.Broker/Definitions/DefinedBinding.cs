using Holdfast.Broker.Routing;

namespace Holdfast.Broker.Definitions;

/// <summary>A binding from a definitions file: from <see cref="Source"/> to a queue or an exchange.</summary>
internal sealed record DefinedBinding(string VirtualHost, string Source, Destination Destination, string RoutingKey, IReadOnlyDictionary<string, object?> Arguments)
{
    public string Describe() =>
        $"binding from exchange '{Source}' to {Destination} with key '{RoutingKey}'{(Arguments.Count == 0 ? "" : " and arguments")} in vhost '{VirtualHost}'";
}
