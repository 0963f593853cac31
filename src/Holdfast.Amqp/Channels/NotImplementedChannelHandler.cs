using System.Buffers;
using Holdfast.Amqp.Codec;

namespace Holdfast.Amqp.Channels;

/// <summary>
/// The handler until the broker core exists: every exchange, queue, basic, tx and confirm method
/// closes its channel with 540 NOT_IMPLEMENTED, and the connection and its other channels go on.
/// </summary>
public sealed class NotImplementedChannelHandler : IAmqpChannelHandler, IAmqpChannelHandlerFactory
{
    public static NotImplementedChannelHandler Instance { get; } = new();

    public IAmqpChannelHandler Create(AmqpChannelContext context) => this;

    public ValueTask<ChannelVerdict> HandleMethodAsync(AmqpMethodId method, ReadOnlyMemory<byte> arguments, CancellationToken cancellationToken) =>
        ValueTask.FromResult(ChannelVerdict.CloseChannel(new AmqpError(
            ReplyCode.NotImplemented,
            $"{AmqpMethodInfo.Name(method)} is not implemented yet",
            AmqpMethodInfo.ClassIdOf(method),
            AmqpMethodInfo.MethodIndexOf(method))));

    // Content only follows a method, and every method already closed the channel, so the connection
    // discards it before it gets here.
    public ValueTask<ChannelVerdict> HandleContentHeaderAsync(ContentHeader header, CancellationToken cancellationToken) =>
        ValueTask.FromResult(ChannelVerdict.Continue);

    public ValueTask<ChannelVerdict> HandleContentBodyAsync(ReadOnlySequence<byte> body, bool isLast, CancellationToken cancellationToken) =>
        ValueTask.FromResult(ChannelVerdict.Continue);

    public void AcksHandled()
    {
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
