using System.Collections.Immutable;

namespace Holdfast.Broker.Routing;

/// <summary>An exchange as routing sees it: its type, its bindings, and where unroutable messages go.</summary>
public sealed class ExchangeRoutes
{
    private readonly RouteMatcher _matcher;

    private ExchangeRoutes(string name, ExchangeKind kind, string? alternateExchange, ImmutableHashSet<Binding> bindings, RouteMatcher matcher)
    {
        Name = name;
        Kind = kind;
        AlternateExchange = alternateExchange;
        Bindings = bindings;
        _matcher = matcher;
    }

    public string Name { get; }

    public ExchangeKind Kind { get; }

    /// <summary>Receives what this exchange's bindings do not match (the <c>alternate-exchange</c> argument).</summary>
    public string? AlternateExchange { get; }

    public ImmutableHashSet<Binding> Bindings { get; }

    public static ExchangeRoutes Create(string name, ExchangeKind kind, string? alternateExchange = null) =>
        new(name, kind, string.IsNullOrEmpty(alternateExchange) ? null : alternateExchange, [], RouteMatcher.Create(kind));

    /// <summary>The same routes with another alternate exchange (a policy set or cleared one).</summary>
    public ExchangeRoutes WithAlternateExchange(string? alternateExchange) =>
        string.Equals(alternateExchange, AlternateExchange, StringComparison.Ordinal)
            ? this
            : new(Name, Kind, string.IsNullOrEmpty(alternateExchange) ? null : alternateExchange, Bindings, _matcher);

    public ExchangeRoutes WithBinding(Binding binding) =>
        Bindings.Contains(binding) ? this : new(Name, Kind, AlternateExchange, Bindings.Add(binding), _matcher.Add(binding));

    public ExchangeRoutes WithoutBinding(Binding binding)
    {
        if (!Bindings.Contains(binding))
        {
            return this;
        }

        var remaining = Bindings.Remove(binding);

        // Direct, topic and fanout match on (key, destination) only: keep the route while another binding still gives it.
        var stillRouted = Kind != ExchangeKind.Headers && remaining.Any(b => b.Destination == binding.Destination && (Kind == ExchangeKind.Fanout || b.RoutingKey == binding.RoutingKey));
        return new(Name, Kind, AlternateExchange, remaining, stillRouted ? _matcher : _matcher.Remove(binding));
    }

    /// <summary>Bindings that lead to <paramref name="destination"/>, removed (when a queue or exchange is deleted).</summary>
    public ExchangeRoutes WithoutDestination(Destination destination)
    {
        var routes = this;
        foreach (var binding in Bindings)
        {
            if (binding.Destination == destination)
            {
                routes = routes.WithoutBinding(binding);
            }
        }

        return routes;
    }

    internal void Match(string routingKey, IMessageHeaders? headers, List<Destination> into) => _matcher.Match(routingKey, headers, into);
}
