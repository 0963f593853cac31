using System.Diagnostics;
using Holdfast.Amqp.Codec;

namespace Holdfast.Amqp.Connection;

/// <summary>
/// The host's observer as connections see it: a report that throws (a log provider that fails, and
/// Microsoft.Extensions.Logging rethrows) is written to <see cref="Trace"/> and dropped. Reports are
/// made from teardown paths too; one that escaped there would skip the release of the connection's
/// other channels, and their unacked messages would stay out until a restart.
/// </summary>
internal sealed class ContainedConnectionObserver(IAmqpConnectionObserver inner) : IAmqpConnectionObserver
{
    public void Opened(AmqpConnection connection) =>
        Report(nameof(Opened), () => inner.Opened(connection));

    public void AuthenticationFailed(AmqpConnection connection, AmqpCredentials? credentials, string reason) =>
        Report(nameof(AuthenticationFailed), () => inner.AuthenticationFailed(connection, credentials, reason));

    public void ProtocolError(AmqpConnection connection, ushort channel, AmqpError protocolError) =>
        Report(nameof(ProtocolError), () => inner.ProtocolError(connection, channel, protocolError));

    public void Closed(AmqpConnection connection, string reason) =>
        Report(nameof(Closed), () => inner.Closed(connection, reason));

    public void Faulted(AmqpConnection connection, Exception exception) =>
        Report(nameof(Faulted), () => inner.Faulted(connection, exception));

    public void ChannelFaulted(AmqpConnection connection, ushort channel, Exception exception) =>
        Report(nameof(ChannelFaulted), () => inner.ChannelFaulted(connection, channel, exception));

    private static void Report(string callback, Action report)
    {
        try
        {
            report();
        }
#pragma warning disable CA1031 // The observer's failure must not become the connection's.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            try
            {
                Trace.TraceError($"Holdfast: a report to the connection observer ({callback}) threw, and the connection went on without it: {ex}");
            }
#pragma warning disable CA1031 // A trace listener that throws too: nothing is left to tell.
            catch (Exception)
#pragma warning restore CA1031
            {
            }
        }
    }
}
