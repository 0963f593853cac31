using System.Text;
using Holdfast.Amqp.Codec;
using Holdfast.Broker.Messages;

namespace Holdfast.Amqp.Mapping;

/// <summary>
/// AMQP's basic properties to the broker's <see cref="MessageProperties"/> and back. Absent stays
/// absent and present stays present (an empty string or an empty header table included); header
/// values map as <see cref="HeaderValueMapper"/> describes.
/// </summary>
/// <remarks>
/// Short-string properties become strings by UTF-8, which is exact for every valid UTF-8 value; the
/// broker model holds strings, so a short string that is not valid UTF-8 comes back with U+FFFD in
/// place of its bad bytes. Properties without headers cost the <see cref="MessageProperties"/> and
/// its strings, and none at all cost nothing (<see cref="MessageProperties.Empty"/>).
/// </remarks>
public static class PropertiesMapper
{
    /// <summary>The broker's form of <paramref name="p"/>; a copy, so it outlives the frame the short strings were decoded from.</summary>
    public static MessageProperties ToBroker(in BasicProperties p)
    {
        if (p.PropertyFlags == 0)
        {
            return MessageProperties.Empty;
        }

        return new MessageProperties
        {
            ContentType = ToBroker(p.ContentType),
            ContentEncoding = ToBroker(p.ContentEncoding),
            Headers = p.Headers is { } headers ? HeaderValueMapper.TableToBroker(headers, 1) : null,
            DeliveryMode = p.DeliveryMode,
            Priority = p.Priority,
            CorrelationId = ToBroker(p.CorrelationId),
            ReplyTo = ToBroker(p.ReplyTo),
            Expiration = ToBroker(p.Expiration),
            MessageId = ToBroker(p.MessageId),
            Timestamp = p.Timestamp?.UnixSeconds,
            Type = ToBroker(p.Type),
            UserId = ToBroker(p.UserId),
            AppId = ToBroker(p.AppId),
            ClusterId = ToBroker(p.ClusterId),
        };
    }

    /// <summary>The AMQP form of <paramref name="p"/>.</summary>
    /// <exception cref="ArgumentException">
    /// A string property or header name longer than 255 UTF-8 bytes (possible only for properties
    /// that came through another door), or a header value with no AMQP type.
    /// </exception>
    public static BasicProperties ToAmqp(MessageProperties p)
    {
        ArgumentNullException.ThrowIfNull(p);
        if (ReferenceEquals(p, MessageProperties.Empty))
        {
            return default;
        }

        return new BasicProperties
        {
            ContentType = ToAmqp(p.ContentType, "The content-type property"),
            ContentEncoding = ToAmqp(p.ContentEncoding, "The content-encoding property"),
            Headers = p.Headers is { } headers ? HeaderValueMapper.TableToAmqp(headers, 1) : null,
            DeliveryMode = p.DeliveryMode,
            Priority = p.Priority,
            CorrelationId = ToAmqp(p.CorrelationId, "The correlation-id property"),
            ReplyTo = ToAmqp(p.ReplyTo, "The reply-to property"),
            Expiration = ToAmqp(p.Expiration, "The expiration property"),
            MessageId = ToAmqp(p.MessageId, "The message-id property"),
            Timestamp = p.Timestamp is { } timestamp ? new AmqpTimestamp(timestamp) : null,
            Type = ToAmqp(p.Type, "The type property"),
            UserId = ToAmqp(p.UserId, "The user-id property"),
            AppId = ToAmqp(p.AppId, "The app-id property"),
            ClusterId = ToAmqp(p.ClusterId, "The cluster-id property"),
        };
    }

    private static string? ToBroker(ShortString? value) => value switch
    {
        null => null,
        { IsEmpty: true } => string.Empty,
        { } s => Encoding.UTF8.GetString(s.Span),
    };

    // Not "value is null ? null : ...": ShortString converts implicitly from string, so that null
    // would be taken for a string and converted, not for an absent property.
    private static ShortString? ToAmqp(string? value, string what) =>
        value is null ? default(ShortString?) : HeaderValueMapper.ToShortString(value, what);
}
