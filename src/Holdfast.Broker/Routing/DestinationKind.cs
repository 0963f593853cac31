namespace Holdfast.Broker.Routing;

public enum DestinationKind
{
    Queue,

    /// <summary>An exchange-to-exchange binding: routing continues at the destination exchange.</summary>
    Exchange,
}
