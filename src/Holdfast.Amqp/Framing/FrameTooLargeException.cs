using Holdfast.Amqp.Codec;

namespace Holdfast.Amqp.Framing;

/// <summary>
/// A frame that does not fit the connection's frame-max, found before any of it was written. Only bodies can be split,
/// so for a method or a content header there is no way to send it on that connection at all.
/// </summary>
public sealed class FrameTooLargeException : ArgumentException
{
    public FrameTooLargeException()
    {
    }

    public FrameTooLargeException(string message)
        : base(message)
    {
    }

    public FrameTooLargeException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    public FrameTooLargeException(FrameType frameType, int payloadLength, uint frameMax)
        : base($"A {frameType} frame with a {payloadLength}-byte payload does not fit in frame-max {frameMax} ({FrameWriter.MaxPayloadLength(frameMax)} payload bytes).")
    {
        FrameType = frameType;
        PayloadLength = payloadLength;
        FrameMax = frameMax;
    }

    public FrameType FrameType { get; }

    public int PayloadLength { get; }

    public uint FrameMax { get; }
}
