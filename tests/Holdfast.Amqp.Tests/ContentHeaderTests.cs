using System.Buffers;
using Holdfast.Amqp.Codec;
using Holdfast.Amqp.Framing;
using static Holdfast.Amqp.Tests.Support.Wire;

namespace Holdfast.Amqp.Tests;

public sealed class ContentHeaderTests
{
    [Fact]
    public void All_fourteen_properties_set_every_flag_bit_from_15_down_to_2()
    {
        var properties = new BasicProperties
        {
            ContentType = "text/plain",
            ContentEncoding = "gzip",
            Headers = new FieldTable(new FieldTableEntry("k", FieldValue.FromString("v"))),
            DeliveryMode = 2,
            Priority = 5,
            CorrelationId = "c1",
            ReplyTo = "r",
            Expiration = "60000",
            MessageId = "m1",
            Timestamp = new AmqpTimestamp(1700000000),
            Type = "t",
            UserId = "guest",
            AppId = "app",
            ClusterId = "cl",
        };

        byte[] golden = Concat(
            Hex("003C 0000 000000000000000B FFFC"),
            ShortStr("text/plain"),
            ShortStr("gzip"),
            Table(Entry("k", 'S', LongStr("v"))),
            Octet(2),
            Octet(5),
            ShortStr("c1"),
            ShortStr("r"),
            ShortStr("60000"),
            ShortStr("m1"),
            Hex("000000006553F100"),
            ShortStr("t"),
            ShortStr("guest"),
            ShortStr("app"),
            ShortStr("cl"));

        Assert.Equal(0xFFFC, properties.PropertyFlags);
        AssertRoundTrip(new ContentHeader(11, properties), golden);
    }

    [Fact]
    public void No_properties_is_a_zero_flags_word()
    {
        AssertRoundTrip(new ContentHeader(5, default), Hex("003C 0000 0000000000000005 0000"));
    }

    [Fact]
    public void Some_properties_skip_the_absent_ones()
    {
        var properties = new BasicProperties { ContentType = "application/json", DeliveryMode = 2, Timestamp = new AmqpTimestamp(1) };

        byte[] golden = Concat(Hex("003C 0000 0000000000000000 9040"), ShortStr("application/json"), Octet(2), U64(1));

        AssertRoundTrip(new ContentHeader(0, properties), golden);
    }

    [Fact]
    public void A_header_frame_wraps_the_payload()
    {
        var output = new ArrayBufferWriter<byte>();
        FrameWriter.WriteContentHeader(output, 1, new ContentHeader(5, new BasicProperties { DeliveryMode = 1 }), 4096);

        Assert.Equal(Hex("02 0001 0000000F  003C 0000 0000000000000005 1000 01  CE"), output.WrittenSpan.ToArray());
    }

    [Theory]
    [InlineData("0001")] // continuation bit: basic has only 14 properties
    [InlineData("0002")] // bit 1 names no property
    public void Flags_that_name_no_property_are_a_frame_error(string flags)
    {
        byte[] payload = Concat(Hex("003C 0000 0000000000000000"), Hex(flags));

        Assert.False(ContentHeader.TryDecode(payload, out _, out var error));
        Assert.Equal(ReplyCode.FrameError, error.Code);
        Assert.Contains("property-flags", error.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void A_content_header_for_a_class_without_content_is_a_frame_error()
    {
        Assert.False(ContentHeader.TryDecode(Hex("000A 0000 0000000000000000 0000"), out _, out var error));
        Assert.Equal(ReplyCode.FrameError, error.Code);
        Assert.Equal(10, error.ClassId);
    }

    [Fact]
    public void Every_truncation_is_an_error_and_never_an_exception()
    {
        byte[] full = Concat(Hex("003C 0000 0000000000000003 F000"), ShortStr("text/plain"), ShortStr("gzip"), Table(Entry("k", 'V')), Octet(2));
        Assert.True(ContentHeader.TryDecode(full, out _, out _));

        for (int length = 0; length < full.Length; length++)
        {
            Assert.False(ContentHeader.TryDecode(full.AsMemory(0, length), out _, out var error), $"length {length}");
            Assert.Equal(ReplyCode.FrameError, error.Code);
        }
    }

    private static void AssertRoundTrip(ContentHeader header, byte[] golden)
    {
        var encoded = new byte[header.EncodedLength];
        Assert.Equal(encoded.Length, header.WriteTo(encoded));
        Assert.Equal(Convert.ToHexString(golden), Convert.ToHexString(encoded));

        Assert.True(ContentHeader.TryDecode(golden, out var decoded, out var error), error.Reason);
        Assert.Equal(header, decoded);
    }
}
