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

    /// <summary>Why an expiration is refused, in RabbitMQ's words: no_integer, {value_negative,N} or {leftover_string,"rest"}.</summary>
    public static string RefusalReason(string expiration)
    {
        ArgumentNullException.ThrowIfNull(expiration);
        var digits = expiration.StartsWith('-') ? 1 : 0;
        var end = digits;
        while (end < expiration.Length && char.IsAsciiDigit(expiration[end]))
        {
            end++;
        }

        if (end == digits)
        {
            return "no_integer";
        }

        if (end < expiration.Length)
        {
            return $"{{leftover_string,\"{expiration[end..]}\"}}";
        }

        return $"{{value_negative,{expiration}}}";
    }
}
