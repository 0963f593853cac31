namespace Holdfast.Broker;

/// <summary>An operation the broker refused, with a reason written for the person reading the client's error.</summary>
public sealed class BrokerException : Exception
{
    public BrokerException()
        : this(BrokerErrorKind.ResourceError, "The broker refused the operation.")
    {
    }

    public BrokerException(string message)
        : this(BrokerErrorKind.ResourceError, message)
    {
    }

    public BrokerException(string message, Exception innerException)
        : base(message, innerException) => Kind = BrokerErrorKind.ResourceError;

    public BrokerException(BrokerErrorKind kind, string message)
        : base(message) => Kind = kind;

    public BrokerException(BrokerErrorKind kind, string message, Exception innerException)
        : base(message, innerException) => Kind = kind;

    public BrokerErrorKind Kind { get; }

    internal static BrokerException NoQueue(string vhost, string name) => new(BrokerErrorKind.NotFound, $"no queue '{name}' in vhost '{vhost}'");

    internal static BrokerException NoExchange(string vhost, string name) => new(BrokerErrorKind.NotFound, $"no exchange '{name}' in vhost '{vhost}'");

    internal static BrokerException InternalExchange(string vhost, string name) => new(BrokerErrorKind.AccessRefused, $"cannot publish to internal exchange '{name}' in vhost '{vhost}'");
}
