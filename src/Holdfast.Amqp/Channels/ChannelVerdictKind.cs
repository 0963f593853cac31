namespace Holdfast.Amqp.Channels;

public enum ChannelVerdictKind
{
    Continue,
    CloseChannel,
    CloseConnection,
}
