using System.Buffers;
using BenchmarkDotNet.Attributes;
using Holdfast.Amqp.Codec;
using Holdfast.Amqp.Connection;
using Holdfast.Amqp.Framing;

namespace Holdfast.Benchmarks;

/// <summary>
/// Reading one publish off the wire as <c>AmqpConnection</c>'s read loop does: cut frames from the
/// pipe's buffer (<see cref="FrameReader"/>), make each payload contiguous (a pooled copy when it
/// spans segments), then decode the basic.publish arguments and the content header; the body frame
/// is handed on as a slice. Channel bookkeeping and the channel handler are left out (see
/// <see cref="ContentAssemblyBenchmarks"/>), so this is the protocol layer's own cost, which should
/// allocate nothing.
/// </summary>
/// <remarks>
/// <c>OneSegment</c> is the usual case: the three frames (about 1.2 KiB) in one 4 KiB pipe block.
/// <c>Split</c> cuts the same bytes into 256-byte segments, so every frame straddles a boundary: the
/// worst case for the <see cref="SequenceReader{T}"/> paths and the pooled copies.
/// </remarks>
[MemoryDiagnoser]
public class FrameParsingBenchmarks
{
    private const int BodyBytes = 1024;
    private const int SplitSegmentBytes = 256;

    private ReadOnlySequence<byte> _oneSegment;
    private ReadOnlySequence<byte> _split;
    private long _expected;

    /// <summary>Application headers in the content header: none, or a few (the table is copied, see ContentAssemblyBenchmarks).</summary>
    [Params(0, 3)]
    public int HeaderCount { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var method = PublishWire.Method("orders", "orders.eu.created");
        byte[] bytes = PublishWire.Frames(method, PublishWire.Properties(HeaderCount), BodyBytes);
        _oneSegment = new ReadOnlySequence<byte>(bytes);
        _split = PublishWire.Split(bytes, SplitSegmentBytes);
        _expected = method.RoutingKey.Length + BodyBytes + BodyBytes;

        // A benchmark that silently parsed nothing would report a fine time: check both inputs once.
        if (OneSegment() != _expected || Split() != _expected)
        {
            throw new InvalidOperationException("The publish frames did not parse as one method, one header and one body frame.");
        }
    }

    [Benchmark(Baseline = true)]
    public long OneSegment() => Parse(_oneSegment);

    [Benchmark]
    public long Split() => Parse(_split);

    // The shape of AmqpConnection.RunAsync's inner loop (TryCutFrame, then HandleFrameAsync) for
    // the frames of one publish; it stops where the connection would wait for more input.
    private static long Parse(ReadOnlySequence<byte> buffer)
    {
        long checksum = 0;
        while (true)
        {
            var reader = new SequenceReader<byte>(buffer);
            var status = FrameReader.TryReadFrame(ref reader, PublishWire.FrameMax, out var frame, out _);
            if (status != FrameReadStatus.Frame)
            {
                return status == FrameReadStatus.NeedMoreData ? checksum : -1;
            }

            buffer = buffer.Slice(reader.Position);
            checksum += HandleFrame(frame);
        }
    }

    private static long HandleFrame(in AmqpFrame frame)
    {
        byte[]? rented = null;
        try
        {
            // As the connection does for every non-heartbeat frame, the body frame included.
            var payload = AmqpConnection.Contiguous(frame.Payload, ref rented);
            switch (frame.Type)
            {
                case FrameType.Method:
                    if (!AmqpMethodDecoder.TryReadMethodId(payload.Span, out var id, out _)
                        || id != AmqpMethodId.BasicPublish
                        || !BasicPublish.TryDecodeArguments(payload[4..], out var publish, out _))
                    {
                        return -1;
                    }

                    return publish.RoutingKey.Length;
                case FrameType.Header:
                    return ContentHeader.TryDecode(payload, out var header, out _) ? (long)header.BodySize : -1;
                default:
                    // The connection hands the body frame's raw sequence to the channel handler.
                    return frame.Payload.Length;
            }
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<byte>.Shared.Return(rented);
            }
        }
    }
}
