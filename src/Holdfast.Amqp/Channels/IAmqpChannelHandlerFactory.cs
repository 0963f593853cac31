namespace Holdfast.Amqp.Channels;

/// <summary>Makes the handler for each channel a client opens; the handler is disposed when the channel closes, however it closes.</summary>
public interface IAmqpChannelHandlerFactory
{
    IAmqpChannelHandler Create(AmqpChannelContext context);

    /// <summary>Runs once a connection has ended and all its channels' handlers are disposed (exclusive queues go now).</summary>
    ValueTask ConnectionClosedAsync(long connectionId) => ValueTask.CompletedTask;
}
