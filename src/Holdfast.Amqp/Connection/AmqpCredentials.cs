namespace Holdfast.Amqp.Connection;

/// <summary>What a client proved it knows, as carried by its SASL mechanism.</summary>
public sealed record AmqpCredentials(string Mechanism, string UserName, string Password)
{
    // The password must never reach a log line through a record's generated ToString.
    public override string ToString() => $"{UserName} ({Mechanism})";
}
