using Holdfast.Amqp.Codec;

namespace Holdfast.Amqp.Channels;

/// <summary>
/// What a channel handler decided about a frame: carry on, close this channel, or close the whole
/// connection. The handler says which explicitly rather than leaving it to the reply code's
/// soft/hard class, because RabbitMQ answers some hard-class codes (540 for a method it does not
/// implement) on the channel alone.
/// </summary>
public readonly record struct ChannelVerdict(ChannelVerdictKind Kind, AmqpError Error)
{
    public static ChannelVerdict Continue => default;

    public static ChannelVerdict CloseChannel(AmqpError error) => new(ChannelVerdictKind.CloseChannel, error);

    public static ChannelVerdict CloseConnection(AmqpError error) => new(ChannelVerdictKind.CloseConnection, error);
}
