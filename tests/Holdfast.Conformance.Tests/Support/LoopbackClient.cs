using RabbitMQ.Client;

namespace Holdfast.Conformance.Tests.Support;

/// <summary>
/// How the tests connect: the real client with automatic recovery off, so that a test sees every
/// failure where it happens, and timeouts short enough that a hung broker fails a test instead of
/// stalling the run.
/// </summary>
internal static class LoopbackClient
{
    public static ConnectionFactory Factory(
        int port,
        TimeSpan timeout,
        string user = "guest",
        string password = "guest",
        string virtualHost = "/",
        string host = "127.0.0.1",
        string? name = null) => new()
    {
        HostName = host,
        Port = port,
        UserName = user,
        Password = password,
        VirtualHost = virtualHost,
        AutomaticRecoveryEnabled = false,
        TopologyRecoveryEnabled = false,
        RequestedConnectionTimeout = timeout,
        ContinuationTimeout = timeout,
        ClientProvidedName = name,
    };
}
