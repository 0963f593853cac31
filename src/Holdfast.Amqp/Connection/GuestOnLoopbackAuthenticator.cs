using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;

namespace Holdfast.Amqp.Connection;

/// <summary>
/// The out-of-the-box policy, RabbitMQ's: one user, <c>guest</c> / <c>guest</c>, accepted only from
/// a loopback address, who may open any of a fixed list of virtual hosts (<c>/</c> unless told
/// otherwise). <see cref="UserDirectoryAuthenticator"/> is the one backed by the broker's user store.
/// </summary>
public sealed class GuestOnLoopbackAuthenticator : IAmqpAuthenticator
{
    private const string GuestUser = "guest";
    private static readonly byte[] GuestPassword = Encoding.UTF8.GetBytes("guest");

    private readonly HashSet<string> _virtualHosts;

    public GuestOnLoopbackAuthenticator()
        : this(["/"])
    {
    }

    public GuestOnLoopbackAuthenticator(IEnumerable<string> virtualHosts)
    {
        ArgumentNullException.ThrowIfNull(virtualHosts);
        _virtualHosts = new HashSet<string>(virtualHosts, StringComparer.Ordinal);
    }

    public ValueTask<AuthenticationResult> AuthenticateAsync(AmqpCredentials credentials, EndPoint? remoteEndPoint, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(credentials);
        if (!string.Equals(credentials.UserName, GuestUser, StringComparison.Ordinal))
        {
            return ValueTask.FromResult(AuthenticationResult.Refused($"user '{credentials.UserName}' does not exist"));
        }

        // Compared in constant time so the answer's timing says nothing about the password.
        if (!CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(credentials.Password), GuestPassword))
        {
            return ValueTask.FromResult(AuthenticationResult.Refused($"wrong password for user '{credentials.UserName}'"));
        }

        if (!IsLoopback(remoteEndPoint))
        {
            return ValueTask.FromResult(AuthenticationResult.Refused("user 'guest' can only connect via localhost"));
        }

        return ValueTask.FromResult(AuthenticationResult.Success);
    }

    public bool CanOpenVirtualHost(string user, string virtualHost, out string refusal)
    {
        ArgumentNullException.ThrowIfNull(virtualHost);
        // Only guest gets this far, and guest may open every configured vhost, as it can in RabbitMQ's defaults.
        refusal = _virtualHosts.Contains(virtualHost) ? string.Empty : $"vhost {virtualHost} not found";
        return refusal.Length == 0;
    }

    /// <summary>Loopback in either address family (an IPv4 address mapped into IPv6 included), or a Unix socket.</summary>
    internal static bool IsLoopback(EndPoint? endPoint) => endPoint switch
    {
        IPEndPoint ip => IPAddress.IsLoopback(ip.Address.IsIPv4MappedToIPv6 ? ip.Address.MapToIPv4() : ip.Address),
        UnixDomainSocketEndPoint => true,
        _ => false,
    };
}
