using System.Buffers;
using System.Buffers.Binary;
using Holdfast.Amqp.Codec;

namespace Holdfast.Amqp.Framing;

/// <summary>
/// Writes frames into an <see cref="IBufferWriter{T}"/> (a PipeWriter in the door, an
/// <see cref="ArrayBufferWriter{T}"/> in tests). frame-max counts the whole frame, header and
/// frame-end octet included, so a frame carries at most frame-max - 8 payload bytes.
/// </summary>
/// <remarks>
/// A method or content header that does not fit in frame-max is refused with a
/// <see cref="FrameTooLargeException"/>: the peer would close the connection on it. A whole content
/// is checked before any of its frames is written, so a refused one leaves nothing half-sent.
/// </remarks>
public static class FrameWriter
{
    public static void WriteProtocolHeader(IBufferWriter<byte> output)
    {
        ArgumentNullException.ThrowIfNull(output);
        output.Write(ProtocolHeader.Amqp091);
    }

    public static void WriteMethod<TMethod>(IBufferWriter<byte> output, ushort channel, TMethod method, uint frameMax)
        where TMethod : struct, IAmqpMethod
    {
        ArgumentNullException.ThrowIfNull(output);
        int argumentsLength = method.GetArgumentsByteCount();
        int payloadLength = 4 + argumentsLength;
        Span<byte> frame = BeginFrame(output, FrameType.Method, channel, payloadLength, frameMax);
        BinaryPrimitives.WriteUInt32BigEndian(frame[AmqpFrame.HeaderLength..], (uint)method.Id);
        int written = method.WriteArguments(frame.Slice(AmqpFrame.HeaderLength + 4, argumentsLength));
        if (written != argumentsLength)
        {
            throw new InvalidOperationException($"{method.Id} wrote {written} argument bytes after announcing {argumentsLength}.");
        }

        EndFrame(output, frame, payloadLength);
    }

    public static void WriteContentHeader(IBufferWriter<byte> output, ushort channel, ContentHeader header, uint frameMax) =>
        WriteContentHeader(output, channel, header, header.EncodedLength, frameMax);

    private static void WriteContentHeader(IBufferWriter<byte> output, ushort channel, ContentHeader header, int payloadLength, uint frameMax)
    {
        ArgumentNullException.ThrowIfNull(output);
        Span<byte> frame = BeginFrame(output, FrameType.Header, channel, payloadLength, frameMax);
        header.WriteTo(frame.Slice(AmqpFrame.HeaderLength, payloadLength));
        EndFrame(output, frame, payloadLength);
    }

    /// <summary>
    /// Writes <paramref name="body"/> as body frames of at most frame-max - 8 payload bytes each. An
    /// empty body writes no frame: the content header's body size of 0 says it all.
    /// </summary>
    public static void WriteBody(IBufferWriter<byte> output, ushort channel, ReadOnlySequence<byte> body, uint frameMax)
    {
        ArgumentNullException.ThrowIfNull(output);
        int maxChunk = MaxPayloadLength(frameMax);
        while (!body.IsEmpty)
        {
            int chunkLength = (int)Math.Min(body.Length, maxChunk);
            Span<byte> frame = BeginFrame(output, FrameType.Body, channel, chunkLength, frameMax);
            body.Slice(0, chunkLength).CopyTo(frame.Slice(AmqpFrame.HeaderLength, chunkLength));
            EndFrame(output, frame, chunkLength);
            body = body.Slice(chunkLength);
        }
    }

    public static void WriteBody(IBufferWriter<byte> output, ushort channel, ReadOnlyMemory<byte> body, uint frameMax) =>
        WriteBody(output, channel, new ReadOnlySequence<byte>(body), frameMax);

    /// <summary>A whole content: the method, the content header, then the body frames.</summary>
    public static void WriteContent<TMethod>(IBufferWriter<byte> output, ushort channel, TMethod method, BasicProperties properties, ReadOnlySequence<byte> body, uint frameMax)
        where TMethod : struct, IAmqpMethod
    {
        // Properties come from another peer, which may have had a larger frame-max: checked before the method
        // frame goes out, since a method with no header after it would break the stream for good.
        var header = new ContentHeader((ulong)body.Length, properties);
        int headerLength = header.EncodedLength;
        if (headerLength > MaxPayloadLength(frameMax))
        {
            throw new FrameTooLargeException(FrameType.Header, headerLength, frameMax);
        }

        WriteMethod(output, channel, method, frameMax);
        WriteContentHeader(output, channel, header, headerLength, frameMax);
        WriteBody(output, channel, body, frameMax);
    }

    public static void WriteHeartbeat(IBufferWriter<byte> output)
    {
        ArgumentNullException.ThrowIfNull(output);
        Span<byte> frame = BeginFrame(output, FrameType.Heartbeat, 0, 0, AmqpConstants.FrameMinSize);
        EndFrame(output, frame, 0);
    }

    /// <summary>Most payload bytes one frame may carry under <paramref name="frameMax"/>.</summary>
    public static int MaxPayloadLength(uint frameMax)
    {
        if (frameMax < AmqpConstants.FrameMinSize)
        {
            throw new ArgumentOutOfRangeException(nameof(frameMax), frameMax, $"frame-max is at least {AmqpConstants.FrameMinSize}.");
        }

        return (int)Math.Min(frameMax - AmqpFrame.OverheadLength, int.MaxValue - AmqpFrame.OverheadLength);
    }

    private static Span<byte> BeginFrame(IBufferWriter<byte> output, FrameType type, ushort channel, int payloadLength, uint frameMax)
    {
        int maxPayloadLength = MaxPayloadLength(frameMax);
        if (payloadLength > maxPayloadLength)
        {
            throw new FrameTooLargeException(type, payloadLength, frameMax);
        }

        Span<byte> frame = output.GetSpan(AmqpFrame.OverheadLength + payloadLength);
        frame[0] = (byte)type;
        BinaryPrimitives.WriteUInt16BigEndian(frame[1..], channel);
        BinaryPrimitives.WriteUInt32BigEndian(frame[3..], (uint)payloadLength);
        return frame;
    }

    private static void EndFrame(IBufferWriter<byte> output, Span<byte> frame, int payloadLength)
    {
        frame[AmqpFrame.HeaderLength + payloadLength] = AmqpConstants.FrameEnd;
        output.Advance(AmqpFrame.OverheadLength + payloadLength);
    }
}
