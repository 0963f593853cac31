using System.Collections.Immutable;

namespace Holdfast.Broker.Routing;

/// <summary>
/// A virtual host's exchanges and bindings as one immutable snapshot. Changes build a new table
/// (sharing everything they do not touch) and the owner swaps it in; a publish routes against
/// whichever snapshot it read, with no lock.
/// </summary>
public sealed class RoutingTable
{
    private readonly ImmutableDictionary<string, ExchangeRoutes> _exchanges;

    private RoutingTable(ImmutableDictionary<string, ExchangeRoutes> exchanges) => _exchanges = exchanges;

    public static RoutingTable Empty { get; } = new(ImmutableDictionary.Create<string, ExchangeRoutes>(StringComparer.Ordinal));

    public IEnumerable<ExchangeRoutes> Exchanges => _exchanges.Values;

    public ExchangeRoutes? Find(string exchange) => _exchanges.GetValueOrDefault(exchange);

    public RoutingTable WithExchange(ExchangeRoutes exchange) => new(_exchanges.SetItem(exchange.Name, exchange));

    /// <summary>Removes an exchange and every binding that leads to it.</summary>
    public RoutingTable WithoutExchange(string name) => WithoutDestination(Destination.Exchange(name), _exchanges.Remove(name));

    /// <summary>Removes every binding that leads to a queue (when the queue is deleted).</summary>
    public RoutingTable WithoutQueue(string name) => WithoutDestination(Destination.Queue(name), _exchanges);

    /// <summary>
    /// Routes a message published to <paramref name="exchange"/>: follows exchange-to-exchange
    /// bindings (each exchange once, so cycles end), and sends to an exchange's alternate exchange
    /// whatever its own bindings do not match. Returns the distinct queue names reached. The default
    /// exchange (empty name) is not in the table: its caller routes to the queue named by the key.
    /// </summary>
    public void Route(string exchange, string routingKey, IMessageHeaders? headers, RouteResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        result.Clear();
        Visit(exchange, routingKey, headers, result);
    }

    private void Visit(string exchange, string routingKey, IMessageHeaders? headers, RouteResult result)
    {
        if (!result.VisitedExchanges.Add(exchange) || !_exchanges.TryGetValue(exchange, out var routes))
        {
            return;
        }

        var matched = result.Scratch();
        routes.Match(routingKey, headers, matched);
        if (matched.Count == 0)
        {
            result.Release(matched);
            if (routes.AlternateExchange is { } alternate)
            {
                Visit(alternate, routingKey, headers, result);
            }

            return;
        }

        foreach (var destination in matched)
        {
            if (destination.Kind == DestinationKind.Queue)
            {
                result.AddQueue(destination.Name);
            }
            else
            {
                Visit(destination.Name, routingKey, headers, result);
            }
        }

        result.Release(matched);
    }

    private static RoutingTable WithoutDestination(Destination destination, ImmutableDictionary<string, ExchangeRoutes> exchanges)
    {
        var builder = exchanges.ToBuilder();
        foreach (var (name, routes) in exchanges)
        {
            var trimmed = routes.WithoutDestination(destination);
            if (!ReferenceEquals(trimmed, routes))
            {
                builder[name] = trimmed;
            }
        }

        return new RoutingTable(builder.ToImmutable());
    }
}
