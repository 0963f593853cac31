using System.Buffers;
using Holdfast.Amqp.Codec;

namespace Holdfast.Amqp.Framing;

/// <summary>
/// One frame as read: type, channel and the payload between the 7-byte header and the frame-end
/// octet. The payload is a slice of the reader's input and is valid until the caller advances
/// past it.
/// </summary>
public readonly struct AmqpFrame(FrameType type, ushort channel, ReadOnlySequence<byte> payload)
{
    /// <summary>Type octet, channel (2) and payload size (4).</summary>
    public const int HeaderLength = 7;

    /// <summary>Header plus the frame-end octet: what frame-max counts beyond the payload.</summary>
    public const int OverheadLength = HeaderLength + 1;

    public FrameType Type { get; } = type;

    public ushort Channel { get; } = channel;

    public ReadOnlySequence<byte> Payload { get; } = payload;

    /// <summary>
    /// The payload as one block of memory: the input itself when the payload lies in one segment
    /// (the usual case), otherwise a copy in <paramref name="scratch"/>, which must hold it. Decoded
    /// values borrow whichever it is.
    /// </summary>
    public ReadOnlyMemory<byte> GetContiguousPayload(byte[] scratch)
    {
        ArgumentNullException.ThrowIfNull(scratch);
        if (Payload.IsSingleSegment)
        {
            return Payload.First;
        }

        if (Payload.Length > scratch.Length)
        {
            throw new ArgumentException($"The payload is {Payload.Length} bytes, the scratch buffer {scratch.Length}.", nameof(scratch));
        }

        Payload.CopyTo(scratch);
        return scratch.AsMemory(0, (int)Payload.Length);
    }
}
