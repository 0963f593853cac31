using System.Buffers;
using Holdfast.Amqp.Codec;
using Holdfast.Amqp.Framing;
using Holdfast.Amqp.Tests.Support;
using static Holdfast.Amqp.Tests.Support.Wire;

namespace Holdfast.Amqp.Tests;

public sealed class FrameReaderTests
{
    private static readonly byte[] Stream = SampleStream.ClientBytes();

    [Fact]
    public void The_0_9_1_header_is_accepted_and_consumed()
    {
        var input = new SequenceReader<byte>(new ReadOnlySequence<byte>(Ascii("AMQP\0\0\u0009\u0001")));

        Assert.Equal(ProtocolHeaderStatus.Accepted, ProtocolHeader.TryRead(ref input));
        Assert.True(input.End);
    }

    [Theory]
    [InlineData("414D515001010009")] // AMQP 0-9 in its old form
    [InlineData("414D515000010000")] // AMQP 1.0
    [InlineData("414D515003010000")] // AMQP 1.0 SASL
    [InlineData("474554202F20")] // "GET / ": an HTTP client, turned away before 8 bytes
    [InlineData("16")] // TLS ClientHello, first byte
    public void Other_protocols_are_unsupported_and_nothing_is_consumed(string hex)
    {
        var input = new SequenceReader<byte>(new ReadOnlySequence<byte>(Hex(hex)));

        Assert.Equal(ProtocolHeaderStatus.Unsupported, ProtocolHeader.TryRead(ref input));
        Assert.Equal(0, input.Consumed);
    }

    [Fact]
    public void A_partial_header_needs_more_at_every_length()
    {
        for (int length = 0; length < ProtocolHeader.Length; length++)
        {
            var input = new SequenceReader<byte>(Segments.OneBytePerSegment(ProtocolHeader.Amqp091[..length].ToArray()));
            Assert.Equal(ProtocolHeaderStatus.NeedMoreData, ProtocolHeader.TryRead(ref input));
            Assert.Equal(0, input.Consumed);
        }
    }

    [Fact]
    public void The_sample_stream_reads_as_the_frames_that_were_written()
    {
        var frames = ReadAll(new ReadOnlySequence<byte>(Stream), out long consumed, out _);

        Assert.Equal(Stream.Length, consumed);
        Assert.Equal(SampleStream.FrameCount, frames.Count);
        Assert.Equal([FrameType.Method, FrameType.Method, FrameType.Method, FrameType.Method, FrameType.Method, FrameType.Method, FrameType.Header, FrameType.Body, FrameType.Body, FrameType.Heartbeat, FrameType.Method], frames.Select(f => f.Type));
    }

    [Fact]
    public void Input_cut_at_every_offset_yields_the_whole_frames_before_the_cut_and_needs_more()
    {
        var all = ReadAll(new ReadOnlySequence<byte>(Stream), out _, out _);

        for (int cut = 0; cut <= Stream.Length; cut++)
        {
            var frames = ReadAll(new ReadOnlySequence<byte>(Stream, 0, cut), out long consumed, out var lastStatus);

            Assert.Equal(FrameReadStatus.NeedMoreData, lastStatus);
            Assert.Equal(all.Take(frames.Count), frames);
            Assert.True(consumed <= cut);
            Assert.True(cut - consumed < (frames.Count == all.Count ? 1 : AmqpFrame.OverheadLength + SampleStream.FrameMax), $"cut {cut}");
        }
    }

    [Fact]
    public void Input_split_into_two_segments_at_every_offset_reads_the_same()
    {
        var all = ReadAll(new ReadOnlySequence<byte>(Stream), out _, out _);

        for (int cut = 1; cut < Stream.Length; cut++)
        {
            Assert.Equal(all, ReadAll(Segments.Split(Stream, cut), out long consumed, out _));
            Assert.Equal(Stream.Length, consumed);
        }
    }

    [Fact]
    public void Input_one_byte_per_segment_reads_the_same()
    {
        var all = ReadAll(new ReadOnlySequence<byte>(Stream), out _, out _);

        Assert.Equal(all, ReadAll(Segments.OneBytePerSegment(Stream), out _, out _));
    }

    [Fact]
    public void A_pipe_style_loop_resumes_across_arbitrary_arrival_chunks()
    {
        var all = ReadAll(new ReadOnlySequence<byte>(Stream), out _, out _);
        var random = new Random(20240601);

        for (int run = 0; run < 50; run++)
        {
            var frames = new List<FrameSummary>();
            var buffered = new List<byte>();
            bool headerRead = false;
            int sent = 0;
            while (sent < Stream.Length)
            {
                int chunk = Math.Min(random.Next(1, 300), Stream.Length - sent);
                buffered.AddRange(Stream.AsSpan(sent, chunk).ToArray());
                sent += chunk;

                // As a PipeReader loop: parse what is there, then drop only what was consumed.
                var input = new SequenceReader<byte>(new ReadOnlySequence<byte>(buffered.ToArray()));
                if (!headerRead)
                {
                    var status = ProtocolHeader.TryRead(ref input);
                    Assert.NotEqual(ProtocolHeaderStatus.Unsupported, status);
                    headerRead = status == ProtocolHeaderStatus.Accepted;
                }

                while (headerRead && FrameReader.TryReadFrame(ref input, SampleStream.FrameMax, out var frame, out var error) is var result && result != FrameReadStatus.NeedMoreData)
                {
                    Assert.Equal(FrameReadStatus.Frame, result);
                    Assert.Equal(default, error);
                    frames.Add(FrameSummary.Of(frame));
                }

                buffered.RemoveRange(0, (int)input.Consumed);
            }

            Assert.Empty(buffered);
            Assert.Equal(all, frames);
        }
    }

    [Fact]
    public void An_oversize_frame_is_refused_from_its_header_alone()
    {
        // A method frame announcing 2 GiB, with only its 7-byte header present.
        var input = new SequenceReader<byte>(new ReadOnlySequence<byte>(Hex("01 0001 7FFFFFFF")));

        long before = GC.GetAllocatedBytesForCurrentThread();
        var status = FrameReader.TryReadFrame(ref input, 131072, out _, out var error);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Equal(FrameReadStatus.Error, status);
        Assert.Equal(ReplyCode.FrameError, error.Code);
        Assert.Contains("frame-max 131072", error.Reason, StringComparison.Ordinal);
        Assert.True(allocated < 2048, $"{allocated} bytes allocated");
        Assert.Equal(0, input.Consumed);
    }

    [Fact]
    public void Frame_max_counts_the_eight_bytes_of_overhead()
    {
        byte[] fits = Frame(3, 1, new byte[4096 - 8]);
        byte[] tooBig = Frame(3, 1, new byte[4096 - 7]);

        var input = new SequenceReader<byte>(new ReadOnlySequence<byte>(fits));
        Assert.Equal(FrameReadStatus.Frame, FrameReader.TryReadFrame(ref input, 4096, out _, out _));
        input = new SequenceReader<byte>(new ReadOnlySequence<byte>(tooBig));
        Assert.Equal(FrameReadStatus.Error, FrameReader.TryReadFrame(ref input, 4096, out _, out var error));
        Assert.Equal(ReplyCode.FrameError, error.Code);
    }

    [Fact]
    public void A_bad_frame_end_octet_is_a_frame_error()
    {
        byte[] frame = Hex("08 0000 00000000 CD");
        var input = new SequenceReader<byte>(new ReadOnlySequence<byte>(frame));

        Assert.Equal(FrameReadStatus.Error, FrameReader.TryReadFrame(ref input, 4096, out _, out var error));
        Assert.Equal(ReplyCode.FrameError, error.Code);
        Assert.Contains("0xCD", error.Reason, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(4)]
    [InlineData(65)] // 'A': a second protocol header sent as if it were a frame
    [InlineData(255)]
    public void An_unknown_frame_type_is_a_frame_error(byte type)
    {
        var input = new SequenceReader<byte>(new ReadOnlySequence<byte>(Frame(type, 0)));

        Assert.Equal(FrameReadStatus.Error, FrameReader.TryReadFrame(ref input, 4096, out _, out var error));
        Assert.Equal(ReplyCode.FrameError, error.Code);
        Assert.Contains("unknown frame type", error.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void A_method_payload_that_does_not_parse_names_its_method_and_field()
    {
        // basic.publish whose routing-key claims 200 bytes.
        byte[] payload = Concat(U16(60), U16(40), U16(0), ShortStr("ex"), Hex("C8 6162"));

        Assert.False(AmqpMethodDecoder.TryDecode(payload, out _, out var error));
        Assert.Equal(ReplyCode.FrameError, error.Code);
        Assert.Equal(60, error.ClassId);
        Assert.Equal(40, error.MethodId);
        Assert.Contains("basic.publish", error.Reason, StringComparison.Ordinal);
        Assert.Contains("routing-key", error.Reason, StringComparison.Ordinal);
        Assert.StartsWith("FRAME_ERROR - cannot decode basic.publish", error.ReplyText, StringComparison.Ordinal);
    }

    [Fact]
    public void Leftover_bytes_after_the_last_argument_are_an_error()
    {
        byte[] payload = Concat(U16(60), U16(80), U64(1), Octet(0), Octet(0));

        Assert.False(AmqpMethodDecoder.TryDecode(payload, out _, out var error));
        Assert.Equal(ReplyCode.FrameError, error.Code);
        Assert.Contains("unexpected bytes", error.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void An_unknown_method_is_command_invalid()
    {
        Assert.False(AmqpMethodDecoder.TryDecode(Concat(U16(60), U16(999)), out _, out var error));
        Assert.Equal(ReplyCode.CommandInvalid, error.Code);
        Assert.Equal(60, error.ClassId);
        Assert.Equal(999, error.MethodId);

        Assert.False(AmqpMethodDecoder.TryDecode(Hex("003C"), out _, out error));
        Assert.Equal(ReplyCode.FrameError, error.Code);
    }

    [Fact]
    public void Method_arguments_cut_at_every_offset_are_errors_never_exceptions()
    {
        var frames = ReadAll(new ReadOnlySequence<byte>(Stream), out _, out _).Where(f => f.Type == FrameType.Method);
        foreach (var frame in frames)
        {
            byte[] payload = Convert.FromHexString(frame.PayloadHex);
            Assert.True(AmqpMethodDecoder.TryDecode(payload, out _, out var fullError), fullError.Reason);
            for (int length = 0; length < payload.Length; length++)
            {
                Assert.False(AmqpMethodDecoder.TryDecode(payload.AsMemory(0, length), out _, out var error), $"{frame.PayloadHex[..8]} cut at {length}");
                Assert.Equal(ReplyCode.FrameError, error.Code);
            }
        }
    }

    [Fact]
    public void A_payload_spread_over_segments_is_made_contiguous_in_scratch()
    {
        byte[] frameBytes = Concat(Hex("01 0001 00000015"), Hex("003C 0028 0000 0A 616D712E646972656374 02 726B 01"), Hex("CE"));
        var input = new SequenceReader<byte>(Segments.Split(frameBytes, 12, 20));
        Assert.Equal(FrameReadStatus.Frame, FrameReader.TryReadFrame(ref input, 4096, out var frame, out _));

        var scratch = new byte[4096];
        var payload = frame.GetContiguousPayload(scratch);

        Assert.True(AmqpMethodDecoder.TryDecode(payload, out var method, out _));
        Assert.Equal("amq.direct", Assert.IsType<BasicPublish>(method).Exchange.ToString());
    }

    internal static List<FrameSummary> ReadAll(ReadOnlySequence<byte> bytes, out long consumed, out FrameReadStatus lastStatus)
    {
        var input = new SequenceReader<byte>(bytes);
        var frames = new List<FrameSummary>();
        var headerStatus = ProtocolHeader.TryRead(ref input);
        Assert.NotEqual(ProtocolHeaderStatus.Unsupported, headerStatus);
        lastStatus = FrameReadStatus.NeedMoreData;
        if (headerStatus == ProtocolHeaderStatus.Accepted)
        {
            while ((lastStatus = FrameReader.TryReadFrame(ref input, SampleStream.FrameMax, out var frame, out _)) == FrameReadStatus.Frame)
            {
                frames.Add(FrameSummary.Of(frame));
            }

            Assert.NotEqual(FrameReadStatus.Error, lastStatus);
        }

        consumed = input.Consumed;
        return frames;
    }
}
