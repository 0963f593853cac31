using System.Collections.Immutable;

namespace Holdfast.Broker.Routing;

internal sealed class DirectMatcher(ImmutableDictionary<string, ImmutableArray<Destination>> byKey) : RouteMatcher
{
    public static DirectMatcher Empty { get; } = new(ImmutableDictionary.Create<string, ImmutableArray<Destination>>(StringComparer.Ordinal));

    public override RouteMatcher Add(Binding binding)
    {
        var existing = byKey.GetValueOrDefault(binding.RoutingKey, []);
        return existing.Contains(binding.Destination) ? this : new DirectMatcher(byKey.SetItem(binding.RoutingKey, existing.Add(binding.Destination)));
    }

    public override RouteMatcher Remove(Binding binding)
    {
        if (!byKey.TryGetValue(binding.RoutingKey, out var existing))
        {
            return this;
        }

        var remaining = existing.Remove(binding.Destination);
        return new DirectMatcher(remaining.IsEmpty ? byKey.Remove(binding.RoutingKey) : byKey.SetItem(binding.RoutingKey, remaining));
    }

    public override void Match(string routingKey, IMessageHeaders? headers, List<Destination> into)
    {
        if (byKey.TryGetValue(routingKey, out var destinations))
        {
            foreach (var destination in destinations)
            {
                into.Add(destination);
            }
        }
    }
}
