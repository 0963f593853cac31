namespace Holdfast.Broker.Routing;

/// <summary>Where a binding leads: a queue or another exchange, by name.</summary>
public readonly record struct Destination(DestinationKind Kind, string Name)
{
    public static Destination Queue(string name) => new(DestinationKind.Queue, name);

    public static Destination Exchange(string name) => new(DestinationKind.Exchange, name);

    public override string ToString() => $"{Kind.ToString().ToLowerInvariant()} '{Name}'";
}
