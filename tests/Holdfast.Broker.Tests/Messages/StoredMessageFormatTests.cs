using System.Buffers;
using Holdfast.Broker.Messages;

namespace Holdfast.Broker.Tests.Messages;

public sealed class StoredMessageFormatTests
{
    private static BrokerMessage RoundTrip(BrokerMessage message)
    {
        var buffer = new ArrayBufferWriter<byte>();
        StoredMessageFormat.Write(message, buffer);
        return StoredMessageFormat.Read(buffer.WrittenMemory);
    }

    [Fact]
    public void The_head_followed_by_the_body_is_the_whole_stored_form()
    {
        var message = new BrokerMessage("ex", "key", new MessageProperties { ContentType = "text/plain", DeliveryMode = 2 }, "the body"u8.ToArray());
        var whole = new ArrayBufferWriter<byte>();
        StoredMessageFormat.Write(message, whole, 1_764_000_000_123);
        var head = new ArrayBufferWriter<byte>();
        StoredMessageFormat.WriteHead(message, head, 1_764_000_000_123);

        byte[] joined = [.. head.WrittenSpan, .. message.Body.Span];
        Assert.Equal(whole.WrittenSpan.ToArray(), joined);
        var read = StoredMessageFormat.Read(whole.WrittenMemory, out var arrivedAtMs);
        Assert.Equal("the body"u8.ToArray(), read.Body.ToArray());
        Assert.Equal(1_764_000_000_123, arrivedAtMs);
    }

    [Fact]
    public void Every_property_and_header_type_survives_a_round_trip()
    {
        var nested = new MessageHeaders([new("inner", new TextValue("deep")), new("n", 7L)]);
        var headers = new MessageHeaders(
        [
            new("void", null), new("bool", true), new("i8", (sbyte)-8), new("u8", (byte)200), new("i16", (short)-16000),
            new("u16", (ushort)65000), new("i32", -2_000_000_000), new("u32", 4_000_000_000u), new("i64", long.MinValue),
            new("f32", 1.5f), new("f64", double.NaN), new("dec", new DecimalValue(2, -12345)), new("text", new TextValue("héllo")),
            new("bad-utf8", new TextValue(new byte[] { 0xff, 0xfe })), new("bytes", new byte[] { 1, 2, 3 }),
            new("ts", new TimestampValue(ulong.MaxValue)), new("array", new List<object?> { 1, new TextValue("two"), null, nested }),
            new("table", nested), new("dup", 1), new("dup", 2),
        ]);
        var properties = new MessageProperties
        {
            ContentType = "application/json", ContentEncoding = "gzip", Headers = headers, DeliveryMode = 2, Priority = 9,
            CorrelationId = "c", ReplyTo = "r", Expiration = "60000", MessageId = "m", Timestamp = 1_700_000_000,
            Type = "t", UserId = "guest", AppId = "app", ClusterId = "cl",
        };
        var message = new BrokerMessage("orders", "eu.new", properties, new byte[] { 9, 8, 7 });

        var back = RoundTrip(message);

        Assert.Equal("orders", back.Exchange);
        Assert.Equal("eu.new", back.RoutingKey);
        Assert.Equal(new byte[] { 9, 8, 7 }, back.Body.ToArray());
        Assert.Equal(properties with { Headers = null }, back.Properties with { Headers = null });
        var h = back.Properties.Headers!;
        Assert.Equal(headers.Count, h.Count);
        for (var i = 0; i < headers.Count; i++)
        {
            Assert.Equal(headers[i].Key, h[i].Key);
            AssertSame(headers[i].Value, h[i].Value);
        }
    }

    [Fact]
    public void A_message_without_properties_stays_without_them()
    {
        var back = RoundTrip(new BrokerMessage("", "q", MessageProperties.Empty, ReadOnlyMemory<byte>.Empty));
        Assert.Equal(MessageProperties.Empty, back.Properties);
        Assert.True(back.Body.IsEmpty);
    }

    [Fact]
    public void Truncated_input_is_refused_at_every_length()
    {
        var buffer = new ArrayBufferWriter<byte>();
        var headers = new MessageHeaders([new("a", new List<object?> { 1, new TextValue("x") }), new("b", new MessageHeaders([new("c", 1.0)]))]);
        StoredMessageFormat.Write(new BrokerMessage("x", "k", new MessageProperties { Headers = headers, DeliveryMode = 2 }, new byte[] { 1, 2, 3, 4 }), buffer);
        var full = buffer.WrittenMemory;
        for (var length = 0; length < full.Length; length++)
        {
            Assert.Throws<InvalidDataException>(() => StoredMessageFormat.Read(full[..length]));
        }

        Assert.Equal(4, StoredMessageFormat.Read(full).Body.Length);
    }

    [Fact]
    public void Nesting_deeper_than_the_limit_is_refused_both_ways()
    {
        object? value = 1;
        for (var i = 0; i < StoredMessageFormat.MaxDepth + 1; i++)
        {
            value = new MessageHeaders([new("n", value)]);
        }

        var message = new BrokerMessage("", "q", new MessageProperties { Headers = (MessageHeaders)value! }, default);
        Assert.Throws<InvalidDataException>(() => StoredMessageFormat.Write(message, new ArrayBufferWriter<byte>()));

        // The same nesting written by hand: version, arrival time, "", "q", headers present, then 66 tables one inside the other.
        var bytes = new List<byte> { StoredMessageFormat.Version, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, (byte)'q', 4, 0 };
        for (var i = 0; i < StoredMessageFormat.MaxDepth + 2; i++)
        {
            bytes.AddRange([1, 0, 0, 0, 1, 0, (byte)'n', 16]);
        }

        bytes.AddRange([0, 0, 0, 0, 0, 0, 0, 0]);
        var error = Assert.Throws<InvalidDataException>(() => StoredMessageFormat.Read(bytes.ToArray()));
        Assert.Contains("nest at most", error.Message, StringComparison.Ordinal);
    }

    private static void AssertSame(object? expected, object? actual)
    {
        switch (expected)
        {
            case byte[] bytes:
                Assert.Equal(bytes, Assert.IsType<byte[]>(actual));
                break;
            case double d when double.IsNaN(d):
                Assert.True(double.IsNaN(Assert.IsType<double>(actual)));
                break;
            case MessageHeaders table:
                var other = Assert.IsType<MessageHeaders>(actual);
                Assert.Equal(table.Count, other.Count);
                for (var i = 0; i < table.Count; i++)
                {
                    Assert.Equal(table[i].Key, other[i].Key);
                    AssertSame(table[i].Value, other[i].Value);
                }

                break;
            case IReadOnlyList<object?> list:
                var items = Assert.IsAssignableFrom<IReadOnlyList<object?>>(actual);
                Assert.Equal(list.Count, items.Count);
                for (var i = 0; i < list.Count; i++)
                {
                    AssertSame(list[i], items[i]);
                }

                break;
            default:
                Assert.Equal(expected, actual);
                Assert.Equal(expected?.GetType(), actual?.GetType());
                break;
        }
    }

    [Fact]
    public void The_arrival_time_round_trips_and_version_1_records_still_read()
    {
        var message = new BrokerMessage("x", "k", new MessageProperties { MessageId = "m" }, new byte[] { 7 });
        var buffer = new ArrayBufferWriter<byte>();
        StoredMessageFormat.Write(message, buffer, 1_764_000_000_123);
        var back = StoredMessageFormat.Read(buffer.WrittenMemory, out var arrived);
        Assert.Equal(1_764_000_000_123, arrived);
        Assert.Equal("m", back.Properties.MessageId);

        // Version 1 is version 2 without the arrival time; records written before it are still read.
        var v1 = new List<byte> { 1 };
        v1.AddRange(buffer.WrittenSpan[9..].ToArray());
        var old = StoredMessageFormat.Read(v1.ToArray(), out var unknown);
        Assert.Equal(0, unknown);
        Assert.Equal("k", old.RoutingKey);
        Assert.Equal(new byte[] { 7 }, old.Body.ToArray());
    }
}
