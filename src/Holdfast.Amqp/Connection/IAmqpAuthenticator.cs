using System.Net;

namespace Holdfast.Amqp.Connection;

/// <summary>
/// Checks a client's credentials during the handshake, and whether the user it logged in as may
/// open the virtual host it names. The remote endpoint is passed so a policy can depend on where
/// the client is (RabbitMQ lets <c>guest</c> in from loopback only); it is null when the transport
/// does not know it.
/// </summary>
public interface IAmqpAuthenticator
{
    ValueTask<AuthenticationResult> AuthenticateAsync(AmqpCredentials credentials, EndPoint? remoteEndPoint, CancellationToken cancellationToken);

    /// <summary>
    /// Asked at connection.open for the user that <see cref="AuthenticateAsync"/> accepted. When it
    /// returns false the connection is closed with 530 NOT_ALLOWED and <paramref name="refusal"/>,
    /// which the client sees, so it uses RabbitMQ's texts: <c>vhost {name} not found</c> or
    /// <c>access to vhost '{name}' refused for user '{user}'</c>.
    /// </summary>
    bool CanOpenVirtualHost(string user, string virtualHost, out string refusal);
}
