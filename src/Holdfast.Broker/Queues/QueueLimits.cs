using Holdfast.Broker.Topology;

namespace Holdfast.Broker.Queues;

/// <summary>
/// A queue's length limits (<c>x-max-length</c>, <c>x-max-length-bytes</c>) and what happens at
/// them (<c>x-overflow</c>): drop the oldest ready message, or refuse the new one so its publisher
/// gets a nack, never a silent drop. Only ready messages count, as in RabbitMQ.
/// </summary>
internal sealed record QueueLimits(long? MaxLength, long? MaxLengthBytes, OverflowBehaviour Overflow)
{
    public static QueueLimits None { get; } = new(null, null, OverflowBehaviour.DropHead);

    public bool IsBounded => MaxLength is not null || MaxLengthBytes is not null;

    public bool RejectsNewest => Overflow != OverflowBehaviour.DropHead;

    public static QueueLimits From(IReadOnlyDictionary<string, object?> arguments)
    {
        var maxLength = NonNegative(arguments, "x-max-length");
        var maxBytes = NonNegative(arguments, "x-max-length-bytes");
        var overflow = TopologyArguments.GetString(arguments, "x-overflow") switch
        {
            null or "drop-head" => OverflowBehaviour.DropHead,
            "reject-publish" => OverflowBehaviour.RejectPublish,
            "reject-publish-dlx" => OverflowBehaviour.RejectPublishDeadLetter,
            var other => throw new BrokerException(BrokerErrorKind.PreconditionFailed, $"invalid arg 'x-overflow' for queue: '{other}' is not one of drop-head, reject-publish, reject-publish-dlx"),
        };
        return maxLength is null && maxBytes is null && overflow == OverflowBehaviour.DropHead ? None : new QueueLimits(maxLength, maxBytes, overflow);
    }

    /// <summary>Whether ready messages of this count and size are over a limit.</summary>
    public bool Exceeded(long readyCount, long readyBytes) =>
        (MaxLength is { } count && readyCount > count) || (MaxLengthBytes is { } bytes && readyBytes > bytes);

    private static long? NonNegative(IReadOnlyDictionary<string, object?> arguments, string name)
    {
        if (!arguments.TryGetValue(name, out var value))
        {
            return null;
        }

        long? number = value switch
        {
            sbyte v => v,
            byte v => v,
            short v => v,
            ushort v => v,
            int v => v,
            uint v => v,
            long v => v,
            _ => null,
        };
        if (number is not { } n || n < 0)
        {
            throw new BrokerException(BrokerErrorKind.PreconditionFailed, $"invalid arg '{name}' for queue: {TopologyArguments.Describe(value)} is not a non-negative integer");
        }

        return n;
    }
}
