namespace Holdfast.Broker.Messages;

/// <summary>
/// A message's properties in protocol-neutral form: the union of what AMQP 0-9-1's basic properties
/// carry, which the other doors map onto. Header values are plain .NET values with one type per
/// protocol type, so a door can map them both ways without loss:
/// null (void), bool, sbyte, byte, short, ushort, int, uint, long, float, double,
/// <see cref="DecimalValue"/>, <see cref="TextValue"/> (string), <c>byte[]</c> (byte array),
/// <see cref="TimestampValue"/>, <c>IReadOnlyList&lt;object?&gt;</c> (array) and
/// <see cref="MessageHeaders"/> (nested table).
/// </summary>
public sealed record MessageProperties
{
    public static MessageProperties Empty { get; } = new();

    public string? ContentType { get; init; }

    public string? ContentEncoding { get; init; }

    public MessageHeaders? Headers { get; init; }

    /// <summary>1 transient, 2 persistent, as AMQP numbers them.</summary>
    public byte? DeliveryMode { get; init; }

    public byte? Priority { get; init; }

    public string? CorrelationId { get; init; }

    public string? ReplyTo { get; init; }

    /// <summary>Per-message TTL in milliseconds, as a decimal string (AMQP's <c>expiration</c>).</summary>
    public string? Expiration { get; init; }

    public string? MessageId { get; init; }

    public ulong? Timestamp { get; init; }

    public string? Type { get; init; }

    public string? UserId { get; init; }

    public string? AppId { get; init; }

    public string? ClusterId { get; init; }

    public bool IsPersistent => DeliveryMode == 2;
}
