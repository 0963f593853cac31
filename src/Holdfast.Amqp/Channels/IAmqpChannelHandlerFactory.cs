namespace Holdfast.Amqp.Channels;

/// <summary>Makes the handler for each channel a client opens; the handler is disposed when the channel closes, however it closes.</summary>
public interface IAmqpChannelHandlerFactory
{
    IAmqpChannelHandler Create(AmqpChannelContext context);
}
