namespace Holdfast.Amqp.Codec;

/// <summary>
/// An AMQP timestamp: seconds since the Unix epoch as an unsigned 64-bit number (no fraction, no
/// time zone). The raw count is kept so that any value a peer sends goes back out unchanged, even
/// one beyond <see cref="DateTimeOffset.MaxValue"/>.
/// </summary>
public readonly record struct AmqpTimestamp(ulong UnixSeconds)
{
    public static AmqpTimestamp FromDateTimeOffset(DateTimeOffset time)
    {
        long seconds = time.ToUnixTimeSeconds();
        if (seconds < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(time), time, "AMQP timestamps cannot be before 1970.");
        }

        return new AmqpTimestamp((ulong)seconds);
    }

    /// <exception cref="ArgumentOutOfRangeException">The value is past year 9999.</exception>
    public DateTimeOffset ToDateTimeOffset() => DateTimeOffset.FromUnixTimeSeconds(checked((long)UnixSeconds));
}
