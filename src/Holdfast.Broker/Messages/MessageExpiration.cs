using System.Globalization;

namespace Holdfast.Broker.Messages;

/// <summary>The per-message TTL of AMQP's <c>expiration</c> property: a non-negative whole number of milliseconds, as text.</summary>
public static class MessageExpiration
{
    public static bool TryParse(string? expiration, out long? ttlMs)
    {
        ttlMs = null;
        if (expiration is null)
        {
            return true;
        }

        if (long.TryParse(expiration, NumberStyles.None, CultureInfo.InvariantCulture, out var value))
        {
            ttlMs = value;
            return true;
        }

        return false;
    }
}
