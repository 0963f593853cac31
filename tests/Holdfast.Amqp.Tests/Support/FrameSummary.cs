using System.Buffers;
using Holdfast.Amqp.Codec;
using Holdfast.Amqp.Framing;

namespace Holdfast.Amqp.Tests.Support;

/// <summary>A frame reduced to comparable values: the payload is copied out of the input.</summary>
internal sealed record FrameSummary(FrameType Type, ushort Channel, string PayloadHex)
{
    public static FrameSummary Of(AmqpFrame frame) => new(frame.Type, frame.Channel, Convert.ToHexString(frame.Payload.ToArray()));
}
