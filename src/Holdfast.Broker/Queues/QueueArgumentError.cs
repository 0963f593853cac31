using Holdfast.Broker.Topology;

namespace Holdfast.Broker.Queues;

/// <summary>Refusals of queue arguments, worded as RabbitMQ words them (clients and their tests match on the text).</summary>
internal static class QueueArgumentError
{
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

    /// <summary>A string argument (AMQP long string): null when absent; refused when of another type.</summary>
    public static string? Text(IReadOnlyDictionary<string, object?> arguments, string name, QueueContext where)
    {
        if (!arguments.TryGetValue(name, out var value))
        {
            return null;
        }

        return TopologyArguments.GetString(arguments, name) ?? throw InvalidType(name, value, where);
    }
}

/// <summary>Which queue an argument belongs to, for the error text.</summary>
internal readonly record struct QueueContext(string Queue, string VirtualHost)
{
    public static QueueContext Unknown { get; } = new("?", "?");
}
