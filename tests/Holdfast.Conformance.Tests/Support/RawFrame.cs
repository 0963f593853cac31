using System.Buffers.Binary;
using Holdfast.Amqp.Codec;

namespace Holdfast.Conformance.Tests.Support;

/// <summary>A frame as received by <see cref="RawAmqpSocket"/>, payload copied out.</summary>
internal sealed record RawFrame(FrameType Type, ushort Channel, byte[] Payload)
{
    public AmqpMethodId MethodId => (AmqpMethodId)BinaryPrimitives.ReadUInt32BigEndian(Payload);

    public ReadOnlyMemory<byte> Arguments => Payload.AsMemory(4);

    public ConnectionClose AsConnectionClose()
    {
        Assert.Equal(AmqpMethodId.ConnectionClose, MethodId);
        Assert.True(ConnectionClose.TryDecodeArguments(Arguments, out var close, out var error), error.ToString());
        return close;
    }
}
