using System.Buffers;
using Holdfast.Amqp.Codec;
using Holdfast.Amqp.Framing;

namespace Holdfast.Benchmarks;

/// <summary>
/// The bytes a client sends for one basic.publish: method frame, content header frame and body
/// frames, encoded by the broker's own <see cref="FrameWriter"/> so the benchmarks parse exactly
/// what the codec produces. Shared by the parsing and assembly benchmarks so both measure the same
/// message.
/// </summary>
internal static class PublishWire
{
    /// <summary>The broker's default frame-max (AmqpServerOptions.FrameMaxBytes), as a client negotiates it.</summary>
    public const uint FrameMax = 128 * 1024;

    public const ushort Channel = 1;

    public static BasicPublish Method(string exchange, string routingKey) =>
        new(0, exchange, routingKey, Mandatory: false, Immediate: false);

    /// <summary>
    /// What a typical client library sets: content type, persistent delivery mode, a message id and a
    /// timestamp; with <paramref name="headerCount"/> &gt; 0, an application headers table of text and
    /// integer values (tenant, attempt, trace id), which is where decoding starts to allocate.
    /// </summary>
    public static BasicProperties Properties(int headerCount)
    {
        var properties = new BasicProperties
        {
            ContentType = "application/json",
            DeliveryMode = 2,
            MessageId = "msg-000000001",
            Timestamp = new AmqpTimestamp(1_796_000_000),
        };

        if (headerCount == 0)
        {
            return properties;
        }

        var entries = new FieldTableEntry[headerCount];
        for (int i = 0; i < headerCount; i++)
        {
            entries[i] = (i % 3) switch
            {
                0 => new FieldTableEntry($"tenant-{i}", FieldValue.FromString("acme-industries")),
                1 => new FieldTableEntry($"attempt-{i}", FieldValue.FromInt32(i)),
                _ => new FieldTableEntry($"trace-{i}", FieldValue.FromString("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")),
            };
        }

        return properties with { Headers = new FieldTable(entries) };
    }

    /// <summary>Method, header and body frames back to back, as they arrive on the socket.</summary>
    public static byte[] Frames(BasicPublish method, BasicProperties properties, int bodyBytes)
    {
        var body = new byte[bodyBytes];
        new Random(1).NextBytes(body);
        var output = new ArrayBufferWriter<byte>();
        FrameWriter.WriteContent(output, Channel, method, properties, new ReadOnlySequence<byte>(body), FrameMax);
        return output.WrittenSpan.ToArray();
    }

    /// <summary>The arguments of a method frame (the payload after class and method ids), as the channel handler receives them.</summary>
    public static byte[] MethodArguments(BasicPublish method)
    {
        var arguments = new byte[method.GetArgumentsByteCount()];
        method.WriteArguments(arguments);
        return arguments;
    }

    /// <summary>A content header frame's payload, as <see cref="ContentHeader.TryDecode"/> receives it.</summary>
    public static byte[] HeaderPayload(BasicProperties properties, ulong bodySize)
    {
        var header = new ContentHeader(bodySize, properties);
        var payload = new byte[header.EncodedLength];
        header.WriteTo(payload);
        return payload;
    }

    /// <summary>
    /// <paramref name="bytes"/> as a sequence of segments of at most <paramref name="segmentBytes"/>
    /// each, as a pipe hands over input that arrived in several reads or spans its pool blocks.
    /// </summary>
    public static ReadOnlySequence<byte> Split(byte[] bytes, int segmentBytes)
    {
        var first = new Segment(bytes.AsMemory(0, Math.Min(segmentBytes, bytes.Length)), 0);
        var last = first;
        for (int offset = segmentBytes; offset < bytes.Length; offset += segmentBytes)
        {
            last = last.Append(bytes.AsMemory(offset, Math.Min(segmentBytes, bytes.Length - offset)));
        }

        return new ReadOnlySequence<byte>(first, 0, last, last.Memory.Length);
    }

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(ReadOnlyMemory<byte> memory, long runningIndex)
        {
            Memory = memory;
            RunningIndex = runningIndex;
        }

        public Segment Append(ReadOnlyMemory<byte> memory)
        {
            var next = new Segment(memory, RunningIndex + Memory.Length);
            Next = next;
            return next;
        }
    }
}
