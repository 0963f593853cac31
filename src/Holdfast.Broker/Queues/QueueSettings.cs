using Holdfast.Broker.Topology;

namespace Holdfast.Broker.Queues;

/// <summary>
/// A queue's loss-prevention arguments, by RabbitMQ's names: message TTL (<c>x-message-ttl</c>),
/// dead-lettering (<c>x-dead-letter-exchange</c>, <c>x-dead-letter-routing-key</c>,
/// <c>x-dead-letter-strategy</c>), the delivery limit (<c>x-delivery-limit</c>), queue expiry
/// (<c>x-expires</c>), priorities (<c>x-max-priority</c>, up to 255) and
/// <c>x-single-active-consumer</c>. Bad values are refused at declare with 406, as RabbitMQ does.
/// </summary>
internal sealed record QueueSettings(
    long? MessageTtlMs,
    string? DeadLetterExchange,
    string? DeadLetterRoutingKey,
    bool AtMostOnceDeadLettering,
    long? DeliveryLimit,
    long? ExpiresMs,
    int MaxPriority,
    bool SingleActiveConsumer,
    IReadOnlyList<long>? RetryDelaysMs)
{
    public static QueueSettings None { get; } = new(null, null, null, false, null, null, 0, false, null);

    /// <summary>The delay before the redelivery that follows failed delivery number <paramref name="failures"/> (1-based); the last delay repeats.</summary>
    public long RetryDelayMs(int failures) =>
        RetryDelaysMs is { Count: > 0 } delays ? delays[Math.Clamp(failures - 1, 0, delays.Count - 1)] : 0;

    public bool DeadLetters => DeadLetterExchange is not null;

    public static QueueSettings From(IReadOnlyDictionary<string, object?> arguments) => From(arguments, QueueContext.Unknown);

    public static QueueSettings From(IReadOnlyDictionary<string, object?> arguments, QueueContext where)
    {
        var ttl = QueueArgumentError.Integer(arguments, "x-message-ttl", 0, where);
        var dlx = QueueArgumentError.ShortText(arguments, "x-dead-letter-exchange", "an exchange name", where);
        var dlrk = QueueArgumentError.ShortText(arguments, "x-dead-letter-routing-key", "a routing key", where);
        if (dlrk is not null && dlx is null)
        {
            throw QueueArgumentError.Invalid("x-dead-letter-routing-key", "routing_key_but_no_dlx_defined", where);
        }

        var strategy = arguments.TryGetValue("x-dead-letter-strategy", out var strategyValue) && strategyValue is not null
            && TopologyArguments.GetString(arguments, "x-dead-letter-strategy") switch
            {
                "at-least-once" => false,
                "at-most-once" => true,
                null => throw QueueArgumentError.Invalid("x-dead-letter-strategy", $"{{unacceptable_type,{TopologyArguments.TypeName(strategyValue)}}}", where),
                _ => throw QueueArgumentError.Invalid("x-dead-letter-strategy", "invalid_dlx_strategy", where),
            };
        var limit = QueueArgumentError.Integer(arguments, "x-delivery-limit", 0, where);
        var expires = QueueArgumentError.Integer(arguments, "x-expires", 1, where);
        var maxPriority = QueueArgumentError.Integer(arguments, "x-max-priority", 0, where) ?? 0;
        if (maxPriority > 255)
        {
            throw QueueArgumentError.Invalid("x-max-priority", $"{{max_value_exceeded,{maxPriority}}}", where);
        }

        var singleActive = arguments.TryGetValue("x-single-active-consumer", out var sac) && sac switch
        {
            bool flag => flag,
            null => false,
            _ => throw QueueArgumentError.Invalid("x-single-active-consumer", $"{{unacceptable_type,{TopologyArguments.TypeName(sac)}}}", where),
        };
        var retryDelays = RetryDelays(arguments, where);
        return ttl is null && dlx is null && limit is null && expires is null && maxPriority == 0 && !singleActive && retryDelays is null
            ? None
            : new QueueSettings(ttl, dlx, dlrk, strategy, limit, expires, (int)maxPriority, singleActive, retryDelays);
    }

    /// <summary><c>x-retry-delays</c>: an array of non-negative millisecond delays, e.g. [1000, 5000, 30000].</summary>
    private static List<long>? RetryDelays(IReadOnlyDictionary<string, object?> arguments, QueueContext where)
    {
        if (!arguments.TryGetValue("x-retry-delays", out var value))
        {
            return null;
        }

        if (value is not IReadOnlyList<object?> items || items.Count == 0)
        {
            throw new BrokerException(BrokerErrorKind.PreconditionFailed, $"invalid arg 'x-retry-delays' for queue: {TopologyArguments.Describe(value)} is not a non-empty array of delays in milliseconds");
        }

        var delays = new List<long>(items.Count);
        foreach (var item in items)
        {
            delays.Add(QueueArgumentError.Integer(new Dictionary<string, object?> { ["x-retry-delays"] = item }, "x-retry-delays", 0, where)!.Value);
        }

        return delays;
    }
}
