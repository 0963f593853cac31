namespace Holdfast.Broker.Routing;

/// <summary>
/// One binding of an exchange. Two bindings are the same binding when destination, key and
/// arguments are equal (binding twice is a no-op, as in RabbitMQ).
/// </summary>
/// <param name="Arguments">Binding arguments; the headers exchange matches on them. Values compare with <see cref="object.Equals(object?)"/>.</param>
public sealed record Binding(Destination Destination, string RoutingKey, IReadOnlyDictionary<string, object?>? Arguments = null)
{
    public bool Equals(Binding? other) =>
        other is not null
        && Destination == other.Destination
        && string.Equals(RoutingKey, other.RoutingKey, StringComparison.Ordinal)
        && ArgumentsEqual(Arguments, other.Arguments);

    public override int GetHashCode() => HashCode.Combine(Destination, RoutingKey, Arguments?.Count ?? 0);

    private static bool ArgumentsEqual(IReadOnlyDictionary<string, object?>? a, IReadOnlyDictionary<string, object?>? b)
    {
        if ((a?.Count ?? 0) != (b?.Count ?? 0))
        {
            return false;
        }

        if (a is null || b is null)
        {
            return true;
        }

        foreach (var (key, value) in a)
        {
            if (!b.TryGetValue(key, out var other))
            {
                return false;
            }
        }

        // Element by element for arrays, tables and byte arrays, which Equals would compare by reference.
        return Topology.TopologyArguments.AreEquivalent(a, b);
    }
}
