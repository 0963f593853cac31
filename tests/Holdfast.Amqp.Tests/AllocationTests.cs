using System.Buffers;
using Holdfast.Amqp.Codec;
using Holdfast.Amqp.Framing;

namespace Holdfast.Amqp.Tests;

/// <summary>The publish path is the hot one: reading its frames must not allocate.</summary>
public sealed class AllocationTests
{
    private const int Warmup = 2_000;
    private const int Measured = 20_000;

    [Fact]
    public void Reading_and_decoding_a_basic_publish_frame_allocates_nothing()
    {
        var output = new ArrayBufferWriter<byte>();
        FrameWriter.WriteMethod(output, 1, new BasicPublish(0, "amq.topic", "orders.eu.created", Mandatory: true, Immediate: false), 4096);
        byte[] frameBytes = output.WrittenSpan.ToArray();

        long Run(int count)
        {
            long checksum = 0;
            for (int i = 0; i < count; i++)
            {
                var input = new SequenceReader<byte>(new ReadOnlySequence<byte>(frameBytes));
                if (FrameReader.TryReadFrame(ref input, 4096, out var frame, out _) != FrameReadStatus.Frame)
                {
                    throw new InvalidOperationException("frame");
                }

                var payload = frame.Payload.First;
                if (!AmqpMethodDecoder.TryReadMethodId(payload.Span, out var id, out _) || id != AmqpMethodId.BasicPublish
                    || !BasicPublish.TryDecodeArguments(payload[4..], out var publish, out _))
                {
                    throw new InvalidOperationException("method");
                }

                checksum += publish.RoutingKey.Length + (publish.Mandatory ? 1 : 0);
            }

            return checksum;
        }

        Run(Warmup);
        long before = GC.GetAllocatedBytesForCurrentThread();
        long checksum = Run(Measured);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Equal(Measured * 18L, checksum);
        Assert.Equal(0, allocated);
    }

    [Fact]
    public void Decoding_a_content_header_without_headers_allocates_nothing()
    {
        var header = new ContentHeader(1024, new BasicProperties { ContentType = "application/json", DeliveryMode = 2, MessageId = "m-1", Timestamp = new AmqpTimestamp(1) });
        var payload = new byte[header.EncodedLength];
        header.WriteTo(payload);

        long Run(int count)
        {
            long checksum = 0;
            for (int i = 0; i < count; i++)
            {
                if (!ContentHeader.TryDecode(payload, out var decoded, out _))
                {
                    throw new InvalidOperationException("header");
                }

                checksum += (long)decoded.BodySize + decoded.Properties.DeliveryMode.GetValueOrDefault();
            }

            return checksum;
        }

        Run(Warmup);
        long before = GC.GetAllocatedBytesForCurrentThread();
        Run(Measured);
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }
}
