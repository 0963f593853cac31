using System.Net;
using Holdfast.Broker.Security;

namespace Holdfast.Amqp.Connection;

/// <summary>
/// Logs clients in against the broker's <see cref="UserDirectory"/>, with RabbitMQ's rules: a user
/// listed as loopback-only (<c>guest</c> by default) is refused from any other address, and
/// connection.open needs the virtual host to exist and the user to hold permissions in it.
/// </summary>
public sealed class UserDirectoryAuthenticator : IAmqpAuthenticator
{
    private readonly UserDirectory _directory;

    public UserDirectoryAuthenticator(UserDirectory directory)
    {
        ArgumentNullException.ThrowIfNull(directory);
        _directory = directory;
    }

    public ValueTask<AuthenticationResult> AuthenticateAsync(AmqpCredentials credentials, EndPoint? remoteEndPoint, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(credentials);

        // Decided before the password: a remote guest is refused whatever it sends, so nobody can use
        // this port to guess a loopback-only user's password, nor make it spend PBKDF2 on guesses.
        if (_directory.IsLoopbackOnly(credentials.UserName) && !GuestOnLoopbackAuthenticator.IsLoopback(remoteEndPoint))
        {
            return ValueTask.FromResult(AuthenticationResult.Refused($"user '{credentials.UserName}' can only connect via localhost"));
        }

        var outcome = _directory.Authenticate(credentials.UserName, credentials.Password);
        return ValueTask.FromResult(outcome.Succeeded ? AuthenticationResult.Success : AuthenticationResult.Refused(outcome.Reason));
    }

    public bool CanOpenVirtualHost(string user, string virtualHost, out string refusal)
    {
        ArgumentNullException.ThrowIfNull(user);
        ArgumentNullException.ThrowIfNull(virtualHost);

        // RabbitMQ's order and words: a missing vhost is named as such before permissions are looked at.
        if (!_directory.VirtualHostExists(virtualHost))
        {
            refusal = $"vhost {virtualHost} not found";
            return false;
        }

        if (!_directory.CanAccessVirtualHost(user, virtualHost))
        {
            refusal = $"access to vhost '{virtualHost}' refused for user '{user}'";
            return false;
        }

        refusal = string.Empty;
        return true;
    }
}
