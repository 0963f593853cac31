using Holdfast.Amqp.Codec;
using Holdfast.Broker;

namespace Holdfast.Amqp.Channels;

/// <summary>
/// The broker's refusals as AMQP replies. Soft codes close the channel; 530, 503, 540 and 506 are
/// hard in the spec and RabbitMQ closes the connection for them. 541 is hard too, and RabbitMQ closes
/// the connection when a channel fails internally; here it closes only the channel that met the fault
/// (a message that could not be encoded for it, say), since nothing the connection holds is in doubt.
/// </summary>
internal static class BrokerErrorMapping
{
    public static ChannelVerdict ToVerdict(BrokerException exception, AmqpMethodId method)
    {
        var classId = AmqpMethodInfo.ClassIdOf(method);
        var methodIndex = AmqpMethodInfo.MethodIndexOf(method);
        return exception.Kind switch
        {
            BrokerErrorKind.NotFound => Channel(ReplyCode.NotFound),
            BrokerErrorKind.AccessRefused => Channel(ReplyCode.AccessRefused),
            BrokerErrorKind.ResourceLocked => Channel(ReplyCode.ResourceLocked),
            BrokerErrorKind.PreconditionFailed => Channel(ReplyCode.PreconditionFailed),
            BrokerErrorKind.NotAllowed => Connection(ReplyCode.NotAllowed),
            BrokerErrorKind.NotImplemented => Connection(ReplyCode.NotImplemented),
            BrokerErrorKind.CommandInvalid => Connection(ReplyCode.CommandInvalid),
            BrokerErrorKind.InternalError => Channel(ReplyCode.InternalError),
            _ => Connection(ReplyCode.ResourceError),
        };

        ChannelVerdict Channel(ReplyCode code) => ChannelVerdict.CloseChannel(new AmqpError(code, exception.Message, classId, methodIndex));

        ChannelVerdict Connection(ReplyCode code) => ChannelVerdict.CloseConnection(new AmqpError(code, exception.Message, classId, methodIndex));
    }
}
