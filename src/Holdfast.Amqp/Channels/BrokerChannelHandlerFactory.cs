using Holdfast.Broker;

namespace Holdfast.Amqp.Channels;

/// <summary>Opens a broker channel behind every AMQP channel, and tells the broker when a connection ends.</summary>
public sealed class BrokerChannelHandlerFactory(MessageBroker broker, BrokerChannelOptions? options = null) : IAmqpChannelHandlerFactory
{
    private readonly BrokerChannelOptions _options = options ?? new BrokerChannelOptions();

    public IAmqpChannelHandler Create(AmqpChannelContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        return new BrokerChannelHandler(broker, context, _options);
    }

    public async ValueTask ConnectionClosedAsync(long connectionId) => await broker.ConnectionClosedAsync(connectionId).ConfigureAwait(false);
}
