using System.Buffers;
using System.Buffers.Binary;
using Holdfast.Amqp.Codec;

namespace Holdfast.Amqp.Framing;

/// <summary>
/// Cuts frames out of a byte stream: type octet, channel (u16), payload size (u32), payload,
/// frame-end 0xCE.
/// </summary>
/// <remarks>
/// Stateless, so it resumes across any split of the input: when a frame is incomplete it consumes
/// nothing and says so, and the caller (a PipeReader loop) advances to the reader's position, marks
/// everything examined, and calls again when more bytes arrive. The size is checked against
/// frame-max as soon as the 7-byte header is there, before the caller buffers the payload, so a
/// peer that announces 4 GiB costs nothing.
/// </remarks>
public static class FrameReader
{
    public static FrameReadStatus TryReadFrame(ref SequenceReader<byte> input, uint frameMax, out AmqpFrame frame, out AmqpError error)
    {
        if (frameMax < AmqpConstants.FrameMinSize)
        {
            throw new ArgumentOutOfRangeException(nameof(frameMax), frameMax, $"frame-max is at least {AmqpConstants.FrameMinSize}.");
        }

        frame = default;
        error = default;
        Span<byte> header = stackalloc byte[AmqpFrame.HeaderLength];
        if (!input.TryCopyTo(header))
        {
            return FrameReadStatus.NeedMoreData;
        }

        byte typeOctet = header[0];
        ushort channel = BinaryPrimitives.ReadUInt16BigEndian(header[1..]);
        uint payloadLength = BinaryPrimitives.ReadUInt32BigEndian(header[3..]);

        if (!IsKnownFrameType(typeOctet))
        {
            error = new AmqpError(ReplyCode.FrameError, $"unknown frame type {typeOctet} on channel {channel}");
            return FrameReadStatus.Error;
        }

        uint maxPayloadLength = frameMax - AmqpFrame.OverheadLength;
        if (payloadLength > maxPayloadLength)
        {
            error = new AmqpError(
                ReplyCode.FrameError,
                $"{(FrameType)typeOctet} frame on channel {channel} has a {payloadLength}-byte payload; frame-max {frameMax} allows {maxPayloadLength}");
            return FrameReadStatus.Error;
        }

        long frameLength = AmqpFrame.OverheadLength + (long)payloadLength;
        if (input.Remaining < frameLength)
        {
            return FrameReadStatus.NeedMoreData;
        }

        input.TryPeek(frameLength - 1, out byte frameEnd);
        if (frameEnd != AmqpConstants.FrameEnd)
        {
            error = new AmqpError(
                ReplyCode.FrameError,
                $"{(FrameType)typeOctet} frame on channel {channel} ends with 0x{frameEnd:X2}, not the frame-end octet 0x{AmqpConstants.FrameEnd:X2}");
            return FrameReadStatus.Error;
        }

        var payload = input.UnreadSequence.Slice(AmqpFrame.HeaderLength, payloadLength);
        input.Advance(frameLength);
        frame = new AmqpFrame((FrameType)typeOctet, channel, payload);
        return FrameReadStatus.Frame;
    }

    private static bool IsKnownFrameType(byte typeOctet) =>
        typeOctet is (byte)FrameType.Method or (byte)FrameType.Header or (byte)FrameType.Body or (byte)FrameType.Heartbeat;
}
