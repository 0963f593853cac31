namespace Holdfast.Broker;

/// <summary>
/// Why the broker refused an operation, in protocol-neutral terms. Each door maps these onto its own
/// codes (AMQP: 404, 403, 405, 406, 530, 506, 541), and on whether the error ends the channel or the connection.
/// </summary>
public enum BrokerErrorKind
{
    /// <summary>An exchange or queue that does not exist.</summary>
    NotFound,

    /// <summary>A permission, a reserved name, an internal exchange, an exclusive consumer.</summary>
    AccessRefused,

    /// <summary>A queue that is exclusive to another connection.</summary>
    ResourceLocked,

    /// <summary>Inequivalent redeclare, if-unused/if-empty, an unknown delivery tag.</summary>
    PreconditionFailed,

    /// <summary>An operation the client may not do at all here (a duplicate consumer tag).</summary>
    NotAllowed,

    /// <summary>An argument or request the broker does not support.</summary>
    NotImplemented,

    /// <summary>A request that makes no sense in the channel's state (tx.commit without tx.select).</summary>
    CommandInvalid,

    /// <summary>The broker cannot do it now: the store failed, the disk is full.</summary>
    ResourceError,

    /// <summary>A fault in the broker or its door, not the client's doing (a delivery that could not be encoded).</summary>
    InternalError,
}
