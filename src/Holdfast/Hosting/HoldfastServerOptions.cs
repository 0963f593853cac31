using System.Net;
using Holdfast.Amqp.Connection;
using Holdfast.Broker.Alarms;
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

    /// <summary>When publishers are blocked: the memory high-water mark and the free-disk limit.</summary>
    public ResourceLimits Limits { get; init; } = new();

    /// <summary>Stand-ins for the memory and free-disk probes, so tests can raise the alarms.</summary>
    public Func<long>? MemoryProbe { get; init; }

    public Func<long>? DiskFreeProbe { get; init; }

    /// <summary>How long shutdown waits for clients to answer connection.close before dropping them.</summary>
    public TimeSpan ShutdownTimeout { get; init; } = TimeSpan.FromSeconds(5);
}
