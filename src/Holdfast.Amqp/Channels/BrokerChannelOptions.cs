namespace Holdfast.Amqp.Channels;

/// <summary>Limits the AMQP door applies to what clients send.</summary>
public sealed record BrokerChannelOptions
{
    /// <summary>The largest message body accepted; larger ones close the channel with 406, as RabbitMQ's max_message_size does (128 MiB there too).</summary>
    public long MaxMessageBytes { get; init; } = 128L * 1024 * 1024;
}
