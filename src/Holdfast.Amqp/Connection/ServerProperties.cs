using Holdfast.Amqp.Codec;

namespace Holdfast.Amqp.Connection;

/// <summary>
/// The server-properties table of connection.start, shaped like RabbitMQ's so that clients which
/// look for a capability before using an extension (confirms, basic.nack, blocked notifications,
/// authentication_failure_close) find it.
/// </summary>
internal static class ServerProperties
{
    private static readonly string[] Capabilities =
    [
        "publisher_confirms",
        "exchange_exchange_bindings",
        "basic.nack",
        "consumer_cancel_notify",
        "connection.blocked",
        "authentication_failure_close",
        "per_consumer_qos",
        "direct_reply_to",
    ];

    public static FieldTable Create(string productVersion)
    {
        var capabilities = new FieldTable(Capabilities.Select(name => new FieldTableEntry(name, FieldValue.FromBoolean(true))));
        return new FieldTable(
            new FieldTableEntry("capabilities", FieldValue.FromTable(capabilities)),
            new FieldTableEntry("product", FieldValue.FromString("Holdfast")),
            new FieldTableEntry("version", FieldValue.FromString(productVersion)),
            new FieldTableEntry("platform", FieldValue.FromString($".NET {Environment.Version}")),
            new FieldTableEntry("information", FieldValue.FromString("A message broker that never loses a message it has confirmed.")));
    }
}
