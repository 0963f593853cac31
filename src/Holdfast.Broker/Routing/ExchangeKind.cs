namespace Holdfast.Broker.Routing;

/// <summary>How an exchange chooses destinations: the four AMQP 0-9-1 types.</summary>
public enum ExchangeKind
{
    /// <summary>Routing key equals binding key.</summary>
    Direct,

    /// <summary>Every binding, whatever the key.</summary>
    Fanout,

    /// <summary>Dot-separated words; <c>*</c> is exactly one word, <c>#</c> zero or more.</summary>
    Topic,

    /// <summary>Message headers against binding arguments (<c>x-match</c> all or any).</summary>
    Headers,
}
