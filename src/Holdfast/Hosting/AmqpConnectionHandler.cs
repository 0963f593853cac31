using Holdfast.Amqp.Connection;
using Microsoft.AspNetCore.Connections;

namespace Holdfast.Hosting;

/// <summary>Kestrel's side of the AMQP door: each accepted socket's pipe goes to the protocol, and the socket closes when it returns.</summary>
internal sealed class AmqpConnectionHandler(AmqpServer amqp) : ConnectionHandler
{
    public override Task OnConnectedAsync(ConnectionContext connection)
    {
        ArgumentNullException.ThrowIfNull(connection);
        return amqp.RunConnectionAsync(connection.Transport, connection.RemoteEndPoint, connection.ConnectionClosed);
    }
}
