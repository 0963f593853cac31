using Holdfast.Broker.Messages;
using Holdfast.Broker.Topology;

namespace Holdfast.Broker.Queues;

/// <summary>Refusals of queue arguments, worded as RabbitMQ words them (clients and their tests match on the text).</summary>
internal static class QueueArgumentError
{
    private const int ShortStringMaxBytes = 255;

    /// <summary>A value the argument cannot take: <c>invalid arg 'x' for queue 'q' in vhost '/': reason</c>, the reason in RabbitMQ's Erlang-term form.</summary>
    public static BrokerException Invalid(string argument, string reason, QueueContext where) =>
        new(BrokerErrorKind.PreconditionFailed, $"invalid arg '{argument}' for queue '{where.Queue}' in vhost '{where.VirtualHost}': {reason}");

    /// <summary>A value of the wrong AMQP type for a name argument: <c>invalid type 'signedint' for arg 'x' in queue 'q' in vhost '/'</c>.</summary>
    public static BrokerException InvalidType(string argument, object? value, QueueContext where) =>
        new(BrokerErrorKind.PreconditionFailed, $"invalid type '{TopologyArguments.TypeName(value)}' for arg '{argument}' in queue '{where.Queue}' in vhost '{where.VirtualHost}'");

    /// <summary>An integer argument: null when absent; refused (with RabbitMQ's reason) when not an integer or below <paramref name="min"/>.</summary>
    public static long? Integer(IReadOnlyDictionary<string, object?> arguments, string name, long min, QueueContext where)
    {
        if (!arguments.TryGetValue(name, out var value))
        {
            return null;
        }

        if (TopologyArguments.AsInteger(value) is not { } n)
        {
            throw Invalid(name, $"\"expected integer, got {TopologyArguments.TypeName(value)}\"", where);
        }

        if (n < 0 && min >= 0)
        {
            throw Invalid(name, $"{{value_negative,{n}}}", where);
        }

        if (n == 0 && min > 0)
        {
            throw Invalid(name, "{value_zero,0}", where);
        }

        return n;
    }

    /// <summary>
    /// A string argument that messages later carry as an AMQP short string (the exchange a dead letter is published
    /// to, its routing key): valid UTF-8 of at most 255 bytes. A longer or malformed one would make every message
    /// dead-lettered through it impossible to deliver, so it is refused here; RabbitMQ takes it, and then closes each
    /// connection that is sent such a message with 541 INTERNAL_ERROR.
    /// </summary>
    /// <param name="what">The value's role, for the reason: "an exchange name", "a routing key".</param>
    public static string? ShortText(IReadOnlyDictionary<string, object?> arguments, string name, string what, QueueContext where)
    {
        if (!arguments.TryGetValue(name, out var value))
        {
            return null;
        }

        var utf8 = value switch
        {
            TextValue text => text.Utf8,
            string s => System.Text.Encoding.UTF8.GetBytes(s),
            _ => throw InvalidType(name, value, where),
        };
        if (!System.Text.Unicode.Utf8.IsValid(utf8.Span))
        {
            throw Invalid(name, $"\"{what} must be valid UTF-8\"", where);
        }

        if (utf8.Length > ShortStringMaxBytes)
        {
            throw Invalid(name, $"\"{what} is at most {ShortStringMaxBytes} bytes (an AMQP short string), this one is {utf8.Length}\"", where);
        }

        return System.Text.Encoding.UTF8.GetString(utf8.Span);
    }
}

/// <summary>Which queue an argument belongs to, for the error text.</summary>
internal readonly record struct QueueContext(string Queue, string VirtualHost)
{
    public static QueueContext Unknown { get; } = new("?", "?");
}
