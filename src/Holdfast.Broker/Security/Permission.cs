namespace Holdfast.Broker.Security;

/// <summary>
/// The three kinds of access RabbitMQ grants on a resource (an exchange or a queue), each through its
/// own pattern in a user's permissions for a virtual host.
/// </summary>
public enum Permission
{
    /// <summary>Create, delete or alter the resource (declare, delete, the destination side of a bind).</summary>
    Configure,

    /// <summary>Put messages into the resource (publish to an exchange, the queue side of a bind).</summary>
    Write,

    /// <summary>Take messages out of the resource (consume, get, purge, the source side of a bind).</summary>
    Read,
}
