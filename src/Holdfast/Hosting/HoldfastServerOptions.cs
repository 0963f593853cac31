using System.Net;
using Holdfast.Amqp.Channels;
using Holdfast.Amqp.Connection;
using Holdfast.Broker.Alarms;
using Holdfast.Storage;

namespace Holdfast.Hosting;

/// <summary>Everything a running broker needs, already parsed: the store, the AMQP listeners and their protocol limits.</summary>
internal sealed record HoldfastServerOptions
{
    public StoreOptions Store { get; init; } = new();

    public IPAddress AmqpBindAddress { get; init; } = IPAddress.Loopback;

    /// <summary>0 asks the OS for a free port; <see cref="HoldfastServer.AmqpEndPoint"/> says which.</summary>
    public int AmqpPort { get; init; } = 5672;

    /// <summary>
    /// Port of the AMQPS listener (AMQP over TLS, on the same address and connection handler): null for none, 0 asks
    /// the OS for a free one; <see cref="HoldfastServer.AmqpsEndPoint"/> says which. Needs <see cref="TlsCertFile"/>.
    /// </summary>
    public int? AmqpsPort { get; init; }

    /// <summary>PEM file with the server certificate first, then any intermediates, and the private key if <see cref="TlsKeyFile"/> is not given.</summary>
    public string? TlsCertFile { get; init; }

    /// <summary>PEM file with the certificate's private key (unencrypted); null when it is in <see cref="TlsCertFile"/>.</summary>
    public string? TlsKeyFile { get; init; }

    public AmqpServerOptions Amqp { get; init; } = new();

    /// <summary>
    /// Whether Kestrel runs a connection's protocol code on the thread that completed its socket operation (and the
    /// socket send on the thread that flushed the frames) instead of handing each step to the thread pool. The
    /// protocol and the broker never wait on a task or hold a lock across an await, which is what makes this safe (the
    /// one synchronous I/O there is reading a message back from the store for a delivery), and each hand-off saved is
    /// a thread wake-up saved: several per group commit. <c>holdfast run</c> also has the runtime
    /// complete socket operations on its event threads (<see cref="InlineSocketCompletions"/>).
    /// </summary>
    public bool InlineIo { get; init; } = true;

    /// <summary>When publishers are blocked: the memory high-water mark and the free-disk limit.</summary>
    public ResourceLimits Limits { get; init; } = new();

    /// <summary>Bytes of message bodies queues may hold in memory before paging new messages to disk; 0 means half the memory high-water mark.</summary>
    public long PagingThresholdBytes { get; init; }

    /// <summary>Stand-ins for the memory and free-disk probes, so tests can raise the alarms.</summary>
    public Func<long>? MemoryProbe { get; init; }

    public Func<long>? DiskFreeProbe { get; init; }

    /// <summary>
    /// Stands between the AMQP door and the broker's channel handlers; null in every real start. Tests put a handler
    /// there that throws, to reach the door's answer to a fault nobody foresaw: nothing in the broker throws one on purpose.
    /// </summary>
    public Func<IAmqpChannelHandlerFactory, IAmqpChannelHandlerFactory>? WrapChannelHandlers { get; init; }

    /// <summary>
    /// A RabbitMQ definitions file (<c>rabbitmqctl export_definitions</c>) imported at every start, after
    /// recovery and before the listener opens; null for none. A blank store started with one gets no
    /// <c>guest</c> user or <c>/</c> vhost of its own, as in RabbitMQ: the file says who may log in.
    /// </summary>
    public string? DefinitionsFile { get; init; }

    /// <summary>How long shutdown waits for clients to answer connection.close before dropping them.</summary>
    public TimeSpan ShutdownTimeout { get; init; } = TimeSpan.FromSeconds(5);
}
