using System.Security.Cryptography;

namespace Holdfast.Broker.Sessions;

/// <summary>
/// RabbitMQ's direct reply-to names. A requester consumes <see cref="PseudoQueue"/>, which is no queue,
/// and puts that name in a request's reply-to; the broker replaces it with a name of its own,
/// <see cref="NamePrefix"/> plus a random token, and a reply published to the default exchange under
/// that name goes straight to the requester's consumer.
/// </summary>
internal static class DirectReply
{
    public const string PseudoQueue = "amq.rabbitmq.reply-to";

    public const string NamePrefix = PseudoQueue + ".";

    public static bool IsPseudoQueue(string name) => string.Equals(name, PseudoQueue, StringComparison.Ordinal);

    public static bool IsReplyName(string name) => name.StartsWith(NamePrefix, StringComparison.Ordinal);

    /// <summary>
    /// Whoever holds a name can write into that consumer, and anyone in the vhost may publish to the
    /// default exchange: the token is 128 bits from the system's CSPRNG, so a name is only known by being given it.
    /// </summary>
    public static string NewName()
    {
        Span<byte> token = stackalloc byte[16];
        RandomNumberGenerator.Fill(token);
        return NamePrefix + Convert.ToBase64String(token).TrimEnd('=').Replace('+', '-').Replace('/', '_');
    }
}
