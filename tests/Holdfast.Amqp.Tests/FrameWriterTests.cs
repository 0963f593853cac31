using System.Buffers;
using Holdfast.Amqp.Codec;
using Holdfast.Amqp.Framing;
using Holdfast.Amqp.Tests.Support;
using static Holdfast.Amqp.Tests.Support.Wire;

namespace Holdfast.Amqp.Tests;

public sealed class FrameWriterTests
{
    [Theory]
    [InlineData(4096u, 100_000)]
    [InlineData(4096u, 4088)] // exactly one full frame
    [InlineData(4096u, 4089)] // one byte spills into a second frame
    [InlineData(131072u, 1_000_000)]
    public void A_large_body_is_split_at_frame_max_and_reassembles(uint frameMax, int bodyLength)
    {
        byte[] body = new byte[bodyLength];
        new Random(bodyLength).NextBytes(body);
        var output = new ArrayBufferWriter<byte>();

        // The body arrives in uneven pieces, as from a pipe.
        FrameWriter.WriteBody(output, 7, Segments.Split(body, bodyLength / 3, bodyLength / 2), frameMax);

        var input = new SequenceReader<byte>(new ReadOnlySequence<byte>(output.WrittenMemory));
        var reassembled = new List<byte>();
        int frames = 0;
        while (FrameReader.TryReadFrame(ref input, frameMax, out var frame, out _) == FrameReadStatus.Frame)
        {
            Assert.Equal(FrameType.Body, frame.Type);
            Assert.Equal(7, frame.Channel);
            Assert.True(frame.Payload.Length + AmqpFrame.OverheadLength <= frameMax);
            reassembled.AddRange(frame.Payload.ToArray());
            frames++;
        }

        int maxPayload = (int)frameMax - 8;
        Assert.True(input.End);
        Assert.Equal((bodyLength + maxPayload - 1) / maxPayload, frames);
        Assert.Equal(body, reassembled.ToArray());
    }

    [Fact]
    public void An_empty_body_writes_no_body_frame()
    {
        var output = new ArrayBufferWriter<byte>();
        FrameWriter.WriteBody(output, 1, ReadOnlyMemory<byte>.Empty, 4096);

        Assert.Equal(0, output.WrittenCount);
    }

    [Fact]
    public void A_whole_content_is_method_header_then_bodies()
    {
        var output = new ArrayBufferWriter<byte>();
        FrameWriter.WriteContent(output, 1, new BasicPublish(0, string.Empty, "q", false, false), new BasicProperties { DeliveryMode = 2 }, new ReadOnlySequence<byte>(Ascii("hello")), 4096);

        byte[] expected = Concat(
            MethodFrame(1, 60, 40, U16(0), ShortStr(string.Empty), ShortStr("q"), Octet(0)),
            Frame(2, 1, Hex("003C 0000 0000000000000005 1000 02")),
            Frame(3, 1, Ascii("hello")));
        Assert.Equal(Convert.ToHexString(expected), Convert.ToHexString(output.WrittenSpan));
    }

    [Fact]
    public void A_heartbeat_is_type_8_on_channel_0_with_no_payload()
    {
        var output = new ArrayBufferWriter<byte>();
        FrameWriter.WriteHeartbeat(output);

        Assert.Equal(Hex("08 0000 00000000 CE"), output.WrittenSpan.ToArray());
    }

    [Fact]
    public void A_method_that_does_not_fit_in_frame_max_is_refused()
    {
        var bigTable = new FieldTable(new FieldTableEntry("blob", FieldValue.FromByteArray(new byte[5000])));

        var thrown = Assert.Throws<FrameTooLargeException>(() => FrameWriter.WriteMethod(new ArrayBufferWriter<byte>(), 0, new ConnectionStart(0, 9, bigTable, "PLAIN", "en_US"), 4096));
        Assert.Equal((FrameType.Method, 4096u), (thrown.FrameType, thrown.FrameMax));
    }

    [Fact]
    public void A_content_whose_header_does_not_fit_in_frame_max_is_refused_before_any_frame_is_written()
    {
        // Half a content (the method without its header) would break the stream for good.
        var output = new ArrayBufferWriter<byte>();
        var properties = new BasicProperties { Headers = new FieldTable(new FieldTableEntry("blob", FieldValue.FromByteArray(new byte[5000]))) };

        var thrown = Assert.Throws<FrameTooLargeException>(() => FrameWriter.WriteContent(output, 1, new BasicDeliver("ctag", 1, false, "", "q"), properties, new ReadOnlySequence<byte>("body"u8.ToArray()), 4096));

        Assert.Equal(FrameType.Header, thrown.FrameType);
        Assert.True(thrown.PayloadLength > 4088);
        Assert.Equal(0, output.WrittenCount);
    }

    [Fact]
    public void Frame_max_below_the_spec_minimum_is_refused()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => FrameWriter.MaxPayloadLength(4095));
        Assert.Equal(4088, FrameWriter.MaxPayloadLength(4096));
    }
}
