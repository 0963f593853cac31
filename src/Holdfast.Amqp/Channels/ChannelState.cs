namespace Holdfast.Amqp.Channels;

internal enum ChannelState
{
    Open,

    /// <summary>The server sent channel.close; everything but close and close-ok is discarded until close-ok.</summary>
    Closing,
}
