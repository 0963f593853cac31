namespace Holdfast.Broker.Sessions;

/// <summary>Why a message goes back to its publisher.</summary>
public enum ReturnReason
{
    /// <summary>Mandatory, and no queue was bound to receive it (AMQP 312 NO_ROUTE).</summary>
    NoRoute,
}
