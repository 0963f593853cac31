using System.Buffers;
using Holdfast.Amqp.Codec;
using Holdfast.Amqp.Framing;

namespace Holdfast.Amqp.Tests.Support;

/// <summary>What a client sends on a short connection: header, handshake replies, a publish with a two-frame body, an ack.</summary>
internal static class SampleStream
{
    public const uint FrameMax = 4096;

    /// <summary>Long enough to need two body frames at frame-max 4096.</summary>
    public const int DefaultBodyLength = 5000;

    /// <summary>Frames in <see cref="ClientBytes"/> with the default body, after the protocol header.</summary>
    public const int FrameCount = 11;

    public static byte[] ClientBytes(int bodyLength = DefaultBodyLength)
    {
        var output = new ArrayBufferWriter<byte>();
        FrameWriter.WriteProtocolHeader(output);
        var clientProperties = new FieldTable(
            new("product", FieldValue.FromString("test")),
            new("capabilities", FieldValue.FromTable(new FieldTable(new FieldTableEntry("publisher_confirms", FieldValue.FromBoolean(true))))));
        FrameWriter.WriteMethod(output, 0, new ConnectionStartOk(clientProperties, "PLAIN", LongString.FromString("\0guest\0guest"), "en_US"), FrameMax);
        FrameWriter.WriteMethod(output, 0, new ConnectionTuneOk(2047, FrameMax, 60), FrameMax);
        FrameWriter.WriteMethod(output, 0, new ConnectionOpen("/", string.Empty, Insist: false), FrameMax);
        FrameWriter.WriteMethod(output, 1, new ChannelOpen(string.Empty), FrameMax);
        FrameWriter.WriteMethod(output, 1, new ConfirmSelect(Nowait: false), FrameMax);
        byte[] body = Enumerable.Range(0, bodyLength).Select(i => (byte)i).ToArray();
        FrameWriter.WriteContent(
            output,
            1,
            new BasicPublish(0, "amq.topic", "a.b.c", Mandatory: true, Immediate: false),
            new BasicProperties { ContentType = "application/octet-stream", DeliveryMode = 2, Headers = clientProperties },
            new ReadOnlySequence<byte>(body),
            FrameMax);
        FrameWriter.WriteHeartbeat(output);
        FrameWriter.WriteMethod(output, 1, new BasicAck(1, Multiple: true), FrameMax);
        return output.WrittenSpan.ToArray();
    }
}
