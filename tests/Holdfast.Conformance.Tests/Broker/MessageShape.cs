using System.Collections;
using System.Globalization;
using System.Text;
using RabbitMQ.Client;

namespace Holdfast.Conformance.Tests.Broker;

/// <summary>
/// A message with every basic property set and headers of every field type RabbitMQ.Client writes, and a canonical
/// rendering of properties so that "came back identical" is one string comparison with a readable diff.
/// </summary>
internal static class MessageShape
{
    public static BasicProperties FullProperties() => new()
    {
        ContentType = "application/x-conformance",
        ContentEncoding = "identity",
        DeliveryMode = DeliveryModes.Persistent,
        Priority = 7,
        CorrelationId = "correlation-1",
        ReplyTo = "reply-here",
        Expiration = "600000",
        MessageId = "message-1",
        Timestamp = new AmqpTimestamp(1_700_000_000),
        Type = "conformance.sample",
        UserId = "guest", // RabbitMQ validates user-id against the authenticated user.
        AppId = "holdfast-conformance",
        ClusterId = "cluster-1",
        Headers = new Dictionary<string, object?>
        {
            ["string"] = "plain ascii",
            ["unicode"] = "ünïcødé ✓",
            ["empty-string"] = "",
            ["int"] = 42,
            ["negative-int"] = -42,
            ["long"] = long.MaxValue,
            ["short"] = (short)-300,
            ["bool-true"] = true,
            ["bool-false"] = false,
            ["double"] = 3.141592653589793,
            ["float"] = 1.5f,
            ["decimal"] = 12.345m,
            ["negative-decimal"] = -0.5m,
            ["timestamp"] = new AmqpTimestamp(1_234_567_890),
            ["void"] = null,
            ["bytes"] = new byte[] { 0, 1, 2, 0x7f, 0x80, 0xff },
            ["binary"] = new BinaryTableValue([0xde, 0xad, 0xbe, 0xef, 0]),
            ["array"] = new List<object?> { 1, "two", true, null, new List<object?> { 3L, "four" }, new Dictionary<string, object?> { ["in-array"] = 5 } },
            // No empty field array or table here: RabbitMQ.Client 7 decodes an empty 'A' or 'F' as null, whatever
            // the broker sent. ContentFidelityTests covers empty ones (and the types this client cannot write) raw.
            ["table"] = new Dictionary<string, object?>
            {
                ["nested"] = new Dictionary<string, object?> { ["deeper"] = new Dictionary<string, object?> { ["deepest"] = "bottom" } },
                ["list"] = new List<object?> { 1.25, 7m },
                ["when"] = new AmqpTimestamp(0),
            },
        },
    };

    /// <summary>A body with every byte value, zeros included, so truncation or text mangling shows.</summary>
    public static byte[] Body(int length = 4096, int seed = 7)
    {
        var body = new byte[length];
        new Random(seed).NextBytes(body);
        for (int i = 0; i < Math.Min(256, length); i++)
        {
            body[i] = (byte)i;
        }

        return body;
    }

    /// <summary>Every property and header, rendered canonically (strings and byte arrays both travel as long strings).</summary>
    public static string Render(IReadOnlyBasicProperties properties)
    {
        var text = new StringBuilder();
        Field("content-type", properties.IsContentTypePresent(), properties.ContentType);
        Field("content-encoding", properties.IsContentEncodingPresent(), properties.ContentEncoding);
        Field("headers", properties.IsHeadersPresent(), properties.Headers is null ? null : Value(properties.Headers));
        Field("delivery-mode", properties.IsDeliveryModePresent(), properties.DeliveryMode);
        Field("priority", properties.IsPriorityPresent(), properties.Priority);
        Field("correlation-id", properties.IsCorrelationIdPresent(), properties.CorrelationId);
        Field("reply-to", properties.IsReplyToPresent(), properties.ReplyTo);
        Field("expiration", properties.IsExpirationPresent(), properties.Expiration);
        Field("message-id", properties.IsMessageIdPresent(), properties.MessageId);
        Field("timestamp", properties.IsTimestampPresent(), properties.Timestamp.UnixTime);
        Field("type", properties.IsTypePresent(), properties.Type);
        Field("user-id", properties.IsUserIdPresent(), properties.UserId);
        Field("app-id", properties.IsAppIdPresent(), properties.AppId);
        Field("cluster-id", properties.IsClusterIdPresent(), properties.ClusterId);
        return text.ToString();

        void Field(string name, bool present, object? value)
        {
            text.Append(name).Append(": ").Append(present ? Convert.ToString(value, CultureInfo.InvariantCulture) : "<absent>").Append('\n');
        }
    }

    private static string Value(object? value) => value switch
    {
        null => "V",
        string s => "S:" + Convert.ToHexString(Encoding.UTF8.GetBytes(s)),
        byte[] b => "S:" + Convert.ToHexString(b),
        BinaryTableValue x => "x:" + Convert.ToHexString(x.Bytes),
        AmqpTimestamp t => "T:" + t.UnixTime.ToString(CultureInfo.InvariantCulture),
        IDictionary<string, object?> table => "{" + string.Join(", ", table.OrderBy(e => e.Key, StringComparer.Ordinal).Select(e => e.Key + "=" + Value(e.Value))) + "}",
        IDictionary table => "{" + string.Join(", ", table.Keys.Cast<object>().Select(k => k.ToString()).Order(StringComparer.Ordinal).Select(k => k + "=" + Value(table[k!]))) + "}",
        IEnumerable list => "[" + string.Join(", ", list.Cast<object?>().Select(Value)) + "]",
        _ => value.GetType().Name + ":" + Convert.ToString(value, CultureInfo.InvariantCulture),
    };
}
