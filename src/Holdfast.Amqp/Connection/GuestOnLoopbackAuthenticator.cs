using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;

namespace Holdfast.Amqp.Connection;

/// <summary>
/// The out-of-the-box policy, RabbitMQ's: one user, <c>guest</c> / <c>guest</c>, accepted only from
/// a loopback address. Real users and permissions arrive with the broker's user store.
/// </summary>
public sealed class GuestOnLoopbackAuthenticator : IAmqpAuthenticator
{
    private const string GuestUser = "guest";
    private static readonly byte[] GuestPassword = Encoding.UTF8.GetBytes("guest");

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

    private static bool IsLoopback(EndPoint? endPoint) => endPoint switch
    {
        IPEndPoint ip => IPAddress.IsLoopback(ip.Address.IsIPv4MappedToIPv6 ? ip.Address.MapToIPv4() : ip.Address),
        UnixDomainSocketEndPoint => true,
        _ => false,
    };
}
