namespace Holdfast.Broker.Messages;

/// <summary>A timestamp header value: seconds since the Unix epoch, unsigned and 64-bit as AMQP has it (wider than DateTimeOffset).</summary>
public readonly record struct TimestampValue(ulong UnixSeconds)
{
    public override string ToString() => UnixSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
}
