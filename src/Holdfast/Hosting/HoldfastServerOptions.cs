using System.Net;
using Holdfast.Amqp.Connection;
using Holdfast.Storage;

namespace Holdfast.Hosting;

/// <summary>Everything a running broker needs, already parsed: the store, the AMQP listener and its protocol limits.</summary>
internal sealed record HoldfastServerOptions
{
    public StoreOptions Store { get; init; } = new();

    public IPAddress AmqpBindAddress { get; init; } = IPAddress.Loopback;

    /// <summary>0 asks the OS for a free port; <see cref="HoldfastServer.AmqpEndPoint"/> says which.</summary>
    public int AmqpPort { get; init; } = 5672;

    public AmqpServerOptions Amqp { get; init; } = new();

    /// <summary>How long shutdown waits for clients to answer connection.close before dropping them.</summary>
    public TimeSpan ShutdownTimeout { get; init; } = TimeSpan.FromSeconds(5);
}
