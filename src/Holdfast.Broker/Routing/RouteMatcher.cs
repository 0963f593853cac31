namespace Holdfast.Broker.Routing;

/// <summary>
/// An exchange type's matching, over an immutable set of bindings. Adding or removing a binding
/// returns a new matcher sharing what did not change, so a publish reads a snapshot without a lock.
/// </summary>
internal abstract class RouteMatcher
{
    public abstract RouteMatcher Add(Binding binding);

    public abstract RouteMatcher Remove(Binding binding);

    /// <summary>Adds the destinations of every binding that matches; duplicates are removed by the caller.</summary>
    public abstract void Match(string routingKey, IMessageHeaders? headers, List<Destination> into);

    public static RouteMatcher Create(ExchangeKind kind) => kind switch
    {
        ExchangeKind.Direct => DirectMatcher.Empty,
        ExchangeKind.Fanout => FanoutMatcher.Empty,
        ExchangeKind.Topic => TopicMatcher.Empty,
        ExchangeKind.Headers => HeadersMatcher.Empty,
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "Unknown exchange kind."),
    };
}
