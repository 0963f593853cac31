using System.Collections.Immutable;

namespace Holdfast.Broker.Routing;

internal sealed class FanoutMatcher(ImmutableArray<Destination> destinations) : RouteMatcher
{
    public static FanoutMatcher Empty { get; } = new([]);

    public override RouteMatcher Add(Binding binding) =>
        destinations.Contains(binding.Destination) ? this : new FanoutMatcher(destinations.Add(binding.Destination));

    public override RouteMatcher Remove(Binding binding) => new FanoutMatcher(destinations.Remove(binding.Destination));

    public override void Match(string routingKey, IMessageHeaders? headers, List<Destination> into)
    {
        foreach (var destination in destinations)
        {
            into.Add(destination);
        }
    }
}
