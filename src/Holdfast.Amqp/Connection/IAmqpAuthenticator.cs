using System.Net;

namespace Holdfast.Amqp.Connection;

/// <summary>
/// Checks a client's credentials during the handshake. The remote endpoint is passed so a policy
/// can depend on where the client is (RabbitMQ lets <c>guest</c> in from loopback only); it is
/// null when the transport does not know it.
/// </summary>
public interface IAmqpAuthenticator
{
    ValueTask<AuthenticationResult> AuthenticateAsync(AmqpCredentials credentials, EndPoint? remoteEndPoint, CancellationToken cancellationToken);
}
