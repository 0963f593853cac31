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

    public static QueueLimits From(IReadOnlyDictionary<string, object?> arguments) => From(arguments, QueueContext.Unknown);

    public static QueueLimits From(IReadOnlyDictionary<string, object?> arguments, QueueContext where)
    {
        var maxLength = QueueArgumentError.Integer(arguments, "x-max-length", 0, where);
        var maxBytes = QueueArgumentError.Integer(arguments, "x-max-length-bytes", 0, where);
        var overflow = OverflowBehaviour.DropHead;
        if (arguments.TryGetValue("x-overflow", out var value))
        {
            overflow = TopologyArguments.GetString(arguments, "x-overflow") switch
            {
                null => throw QueueArgumentError.Invalid("x-overflow", $"{{unacceptable_type,{TopologyArguments.TypeName(value)}}}", where),
                "drop-head" => OverflowBehaviour.DropHead,
                "reject-publish" => OverflowBehaviour.RejectPublish,
                "reject-publish-dlx" => OverflowBehaviour.RejectPublishDeadLetter,
                _ => throw QueueArgumentError.Invalid("x-overflow", "invalid_overflow", where),
            };
        }

        return maxLength is null && maxBytes is null && overflow == OverflowBehaviour.DropHead ? None : new QueueLimits(maxLength, maxBytes, overflow);
    }

    /// <summary>Whether ready messages of this count and size are over a limit.</summary>
    public bool Exceeded(long readyCount, long readyBytes) =>
        (MaxLength is { } count && readyCount > count) || (MaxLengthBytes is { } bytes && readyBytes > bytes);
}
