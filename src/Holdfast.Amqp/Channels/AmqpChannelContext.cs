using System.Net;

namespace Holdfast.Amqp.Channels;

/// <summary>Who a channel belongs to and where its replies go, for the handler the broker supplies.</summary>
public sealed record AmqpChannelContext(
    long ConnectionId,
    ushort ChannelNumber,
    string UserName,
    string VirtualHost,
    EndPoint? RemoteEndPoint,
    ChannelOutput Output);
