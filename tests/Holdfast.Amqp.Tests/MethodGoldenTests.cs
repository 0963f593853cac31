using System.Buffers;
using Holdfast.Amqp.Codec;
using Holdfast.Amqp.Framing;
using Holdfast.Amqp.Tests.Support;
using static Holdfast.Amqp.Tests.Support.Wire;

namespace Holdfast.Amqp.Tests;

/// <summary>
/// Each method is encoded to a whole frame and compared with bytes written from the spec, then the
/// golden frame is read back and must decode to the same struct.
/// </summary>
public sealed class MethodGoldenTests
{
    private const uint FrameMax = 131072;

    [Fact]
    public void Basic_publish_matches_hand_written_bytes()
    {
        var publish = new BasicPublish(0, "amq.direct", "rk", Mandatory: true, Immediate: false);

        // type 1, channel 1, size 21; class 60 method 40; ticket 0; "amq.direct"; "rk"; bits: mandatory.
        byte[] golden = Hex("01 0001 00000015  003C 0028  0000  0A 616D712E646972656374  02 726B  01  CE");

        AssertRoundTrip(publish, channel: 1, golden);
    }

    [Fact]
    public void Connection_tune_matches_hand_written_bytes()
    {
        var tune = new ConnectionTune(ChannelMax: 2047, FrameMax: 131072, Heartbeat: 60);

        byte[] golden = Hex("01 0000 0000000C  000A 001E  07FF  00020000  003C  CE");

        AssertRoundTrip(tune, channel: 0, golden);
    }

    [Fact]
    public void Basic_ack_packs_multiple_into_bit_0()
    {
        byte[] golden = Hex("01 0002 0000000D  003C 0050  000000000000002A  01  CE");

        AssertRoundTrip(new BasicAck(DeliveryTag: 42, Multiple: true), channel: 2, golden);
        AssertRoundTrip(new BasicAck(DeliveryTag: 42, Multiple: false), channel: 2, Hex("01 0002 0000000D  003C 0050  000000000000002A  00  CE"));
    }

    [Fact]
    public void Basic_nack_packs_multiple_and_requeue_into_one_octet()
    {
        byte[] golden = Hex("01 0001 0000000D  003C 0078  0000000000000007  02  CE");

        AssertRoundTrip(new BasicNack(DeliveryTag: 7, Multiple: false, Requeue: true), channel: 1, golden);
        AssertRoundTrip(new BasicNack(7, Multiple: true, Requeue: true), channel: 1, Hex("01 0001 0000000D  003C 0078  0000000000000007  03  CE"));
    }

    [Fact]
    public void Confirm_select_has_class_85_and_one_bit()
    {
        AssertRoundTrip(new ConfirmSelect(Nowait: false), channel: 1, Hex("01 0001 00000005  0055 000A  00  CE"));
        AssertRoundTrip(new ConfirmSelect(Nowait: true), channel: 1, Hex("01 0001 00000005  0055 000A  01  CE"));
    }

    [Fact]
    public void Basic_deliver_carries_tag_bit_and_two_short_strings()
    {
        var deliver = new BasicDeliver("ctag-1", 0x0102030405060708, Redelivered: true, "ex", "rk");

        byte[] golden = MethodFrame(3, 60, 60, ShortStr("ctag-1"), U64(0x0102030405060708), Octet(1), ShortStr("ex"), ShortStr("rk"));

        Assert.Equal(Hex("01 0003 0000001A  003C 003C  06 637461672D31  0102030405060708  01  02 6578  02 726B  CE"), golden);
        AssertRoundTrip(deliver, channel: 3, golden);
    }

    [Fact]
    public void Connection_start_carries_a_nested_server_properties_table()
    {
        var serverProperties = new FieldTable(
            new("product", FieldValue.FromString("Holdfast")),
            new("capabilities", FieldValue.FromTable(new FieldTable(
                new("publisher_confirms", FieldValue.FromBoolean(true)),
                new("basic.nack", FieldValue.FromBoolean(true))))));
        var start = new ConnectionStart(0, 9, serverProperties, "PLAIN AMQPLAIN", "en_US");

        byte[] table = Table(
            Entry("product", 'S', LongStr("Holdfast")),
            Entry("capabilities", 'F', Table(
                Entry("publisher_confirms", 't', Octet(1)),
                Entry("basic.nack", 't', Octet(1)))));
        byte[] golden = MethodFrame(0, 10, 10, Octet(0), Octet(9), table, LongStr("PLAIN AMQPLAIN"), LongStr("en_US"));

        // The table's length word, worked out by hand: 21 bytes for product, 52 for capabilities.
        Assert.Equal(Hex("00000049"), table[..4]);
        AssertRoundTrip(start, channel: 0, golden);
    }

    [Fact]
    public void Queue_declare_packs_five_bits_and_carries_an_arguments_table()
    {
        var arguments = new FieldTable(
            new("x-max-length", FieldValue.FromInt32(1000)),
            new("x-queue-type", FieldValue.FromString("quorum")));
        var declare = new QueueDeclare(0, "orders", Passive: false, Durable: true, Exclusive: false, AutoDelete: true, Nowait: false, arguments);

        byte[] golden = Hex(
            "01 0001 0000003C  0032 000A  0000  06 6F7264657273  0A" +
            "  0000002A  0C 782D6D61782D6C656E677468 49 000003E8  0C 782D71756575652D74797065 53 00000006 71756F72756D  CE");

        AssertRoundTrip(declare, channel: 1, golden);
    }

    [Fact]
    public void Exchange_declare_packs_bits_in_spec_order()
    {
        var declare = new ExchangeDeclare(0, "logs", "fanout", Passive: false, Durable: true, AutoDelete: false, Internal: true, Nowait: true, FieldTable.Empty);

        // durable = bit 1, internal = bit 3, nowait = bit 4: 0b11010.
        byte[] golden = MethodFrame(1, 40, 10, U16(0), ShortStr("logs"), ShortStr("fanout"), Octet(0x1A), Table());

        AssertRoundTrip(declare, channel: 1, golden);
    }

    [Fact]
    public void Access_request_packs_five_bits_after_a_short_string()
    {
        var request = new AccessRequest("/data", Exclusive: false, Passive: true, Active: true, Write: true, Read: true);

        AssertRoundTrip(request, channel: 1, MethodFrame(1, 30, 10, ShortStr("/data"), Octet(0x1E)));
    }

    [Fact]
    public void Connection_close_and_channel_flow_match_the_spec()
    {
        AssertRoundTrip(
            new ConnectionClose(320, "CONNECTION_FORCED - bye", 0, 0),
            channel: 0,
            MethodFrame(0, 10, 50, U16(320), ShortStr("CONNECTION_FORCED - bye"), U16(0), U16(0)));
        AssertRoundTrip(new ChannelFlow(Active: true), channel: 5, Hex("01 0005 00000005  0014 0014  01  CE"));
    }

    [Fact]
    public void RabbitMQ_extensions_are_all_there()
    {
        AssertRoundTrip(new ConnectionBlocked("low on memory"), 0, MethodFrame(0, 10, 60, ShortStr("low on memory")));
        AssertRoundTrip(new ConnectionUnblocked(), 0, MethodFrame(0, 10, 61));
        AssertRoundTrip(new ConnectionUpdateSecret(LongString.FromString("token"), "refresh"), 0, MethodFrame(0, 10, 70, LongStr("token"), ShortStr("refresh")));
        AssertRoundTrip(new ConnectionUpdateSecretOk(), 0, MethodFrame(0, 10, 71));
        AssertRoundTrip(new ExchangeBind(0, "dst", "src", "rk", Nowait: true, FieldTable.Empty), 1, MethodFrame(1, 40, 30, U16(0), ShortStr("dst"), ShortStr("src"), ShortStr("rk"), Octet(1), Table()));
        AssertRoundTrip(new ExchangeUnbindOk(), 1, MethodFrame(1, 40, 51));
    }

    [Fact]
    public void A_default_struct_encodes_null_strings_and_tables_as_empty()
    {
        AssertEncodes(default(QueueBind), 1, MethodFrame(1, 50, 20, U16(0), ShortStr(""), ShortStr(""), ShortStr(""), Octet(0), Table()));
    }

    private static void AssertRoundTrip<TMethod>(TMethod method, ushort channel, byte[] golden)
        where TMethod : struct, IAmqpMethod
    {
        AssertEncodes(method, channel, golden);

        var input = new SequenceReader<byte>(new ReadOnlySequence<byte>(golden));
        Assert.Equal(FrameReadStatus.Frame, FrameReader.TryReadFrame(ref input, FrameMax, out var frame, out var frameError));
        Assert.Equal(default, frameError);
        Assert.True(input.End);
        Assert.Equal(FrameType.Method, frame.Type);
        Assert.Equal(channel, frame.Channel);

        Assert.True(AmqpMethodDecoder.TryDecode(frame.Payload.ToArray(), out var decoded, out var error), error.Reason);
        Assert.Equal(method, Assert.IsType<TMethod>(decoded));
    }

    private static void AssertEncodes<TMethod>(TMethod method, ushort channel, byte[] golden)
        where TMethod : struct, IAmqpMethod
    {
        var output = new ArrayBufferWriter<byte>();
        FrameWriter.WriteMethod(output, channel, method, FrameMax);
        Assert.Equal(Convert.ToHexString(golden), Convert.ToHexString(output.WrittenSpan));
    }
}
