using System.Net;
using Holdfast.Amqp.Channels;
using Holdfast.Amqp.Connection;
using Holdfast.Broker;
using Holdfast.Broker.Alarms;
using Holdfast.Broker.Definitions;
using Holdfast.Broker.Security;
using Holdfast.Storage;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Holdfast.Hosting;

/// <summary>
/// A running broker: the store, recovered before anything listens, and the AMQP listener on Kestrel (with
/// an AMQPS one, TLS on the same connection handler, when asked for). <c>holdfast run</c> starts one; tests
/// start one in-process on port 0 and read <see cref="AmqpEndPoint"/> (and <see cref="AmqpsEndPoint"/>).
/// </summary>
/// <remarks>
/// Stopping follows the order that loses nothing: stop accepting, close every connection with 320
/// CONNECTION_FORCED (clients see a clean broker shutdown, not a reset), then close the store, which
/// flushes and checkpoints.
/// </remarks>
internal sealed class HoldfastServer : IAsyncDisposable
{
    private readonly IHost _host;
    private readonly HoldfastServerOptions _options;
    private int _stopped;

    private HoldfastServer(HoldfastServerOptions options, MessageStore store, MessageBroker broker, AmqpServer amqp, IHost host, IPEndPoint amqpEndPoint)
    {
        _options = options;
        Store = store;
        Broker = broker;
        Amqp = amqp;
        _host = host;
        AmqpEndPoint = amqpEndPoint;
    }

    public MessageStore Store { get; }

    public MessageBroker Broker { get; }

    public ResourceMonitor? Alarms { get; private init; }

    public AmqpServer Amqp { get; }

    /// <summary>Where the AMQP listener is bound, with the real port when 0 was asked for.</summary>
    public IPEndPoint AmqpEndPoint { get; }

    /// <summary>Where the AMQPS (TLS) listener is bound, with the real port when 0 was asked for; null when there is none.</summary>
    public IPEndPoint? AmqpsEndPoint { get; private init; }

    /// <summary>The AMQPS listener's certificate; null when there is no TLS listener.</summary>
    public TlsCertificate? Tls { get; private init; }

    /// <summary>What the start's import of <see cref="HoldfastServerOptions.DefinitionsFile"/> did; null when there was none.</summary>
    public DefinitionsImportReport? Definitions { get; private init; }

    /// <summary>The pools Kestrel's connections receive into and send from.</summary>
    public ConnectionBufferPool.Factory ConnectionBuffers { get; private init; } = new();

    public static async Task<HoldfastServer> StartAsync(HoldfastServerOptions options, ILoggerFactory loggerFactory, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(loggerFactory);

        // The certificate before the store, so that a bad file fails the start at once rather than after recovery.
        var tls = TlsCertificate.LoadFor(options);
        MessageStore store;
        try
        {
            // Recovery first: no client may connect to a store that has not finished recovering.
            store = await MessageStore.OpenAsync(options.Store).ConfigureAwait(false);
        }
        catch
        {
            tls?.Dispose();
            throw;
        }

        try
        {
            // With a definitions file a blank store gets no guest: the file says who may log in, as in RabbitMQ.
            var users = await UserDirectory.LoadAsync(store, options.Store.TimeProvider, new SecurityOptions { CreateDefaults = options.DefinitionsFile is null }).ConfigureAwait(false);
            var broker = await MessageBroker.OpenAsync(store, users, observer: new LoggingBrokerObserver(loggerFactory.CreateLogger<MessageBroker>(), options.Store.TimeProvider)).ConfigureAwait(false);
            DefinitionsImportReport? definitions = null;
            if (options.DefinitionsFile is { } definitionsFile)
            {
                // After recovery and before the listener: the first client already sees the imported topology.
                try
                {
                    definitions = await DefinitionsImporter.ImportFileAsync(definitionsFile, broker, cancellationToken).ConfigureAwait(false);
                }
                catch
                {
                    broker.Dispose();
                    throw;
                }
            }

            var alarms = new ResourceMonitor(options.Limits, options.Store.Directory, options.Store.TimeProvider, options.MemoryProbe, options.DiskFreeProbe);

            // Queues page to disk from half the high-water mark, as RabbitMQ does, so the alarm is the last resort.
            broker.Memory.LimitBytes = options.PagingThresholdBytes > 0 ? options.PagingThresholdBytes : alarms.MemoryLimitBytes / 2;
            var amqp = new AmqpServer(
                options.Amqp,
                new UserDirectoryAuthenticator(users),
                channelHandlers: options.WrapChannelHandlers is { } wrap ? wrap(new BrokerChannelHandlerFactory(broker)) : new BrokerChannelHandlerFactory(broker),
                observer: new LoggingConnectionObserver(loggerFactory.CreateLogger<AmqpConnection>()),
                timeProvider: options.Store.TimeProvider,
                alarms: alarms);
            ListenOptions? amqpListener = null;
            ListenOptions? amqpsListener = null;
            var connectionBuffers = new ConnectionBufferPool.Factory();
            var host = new HostBuilder()
                .ConfigureServices(services =>
                {
                    services.AddSingleton(amqp);
                    services.AddSingleton<IHostLifetime, EmbeddedHostLifetime>();
                    services.AddLogging();
                    services.Replace(ServiceDescriptor.Singleton(loggerFactory));
                    services.Configure<HostOptions>(o => o.ShutdownTimeout = options.ShutdownTimeout);
                })
                .ConfigureWebHost(web => web
                    .UseSockets(sockets => sockets.UnsafePreferInlineScheduling = options.InlineIo)
                    .UseKestrel(kestrel =>
                    {
                        kestrel.AddServerHeader = false;
                        kestrel.Listen(options.AmqpBindAddress, options.AmqpPort, listen =>
                        {
                            listen.UseConnectionHandler<AmqpConnectionHandler>();
                            amqpListener = listen;
                        });
                        if (tls is not null)
                        {
                            // The same handler behind SslStream. TLS first: middleware runs in the order added, the handler
                            // last. No HTTP protocols, so no ALPN (h2, http/1.1) is offered on an AMQP port.
                            kestrel.Listen(options.AmqpBindAddress, options.AmqpsPort!.Value, listen =>
                            {
                                listen.Protocols = HttpProtocols.None;
                                listen.UseHttps(tls.ToConnectionAdapterOptions(options.Amqp.HandshakeTimeout));
                                listen.UseConnectionHandler<AmqpConnectionHandler>();
                                amqpsListener = listen;
                            });
                        }
                    })
                    .Configure(_ => { }))
                // After Kestrel's own registration, which it replaces: Kestrel asks the services for the factory of its pools.
                .ConfigureServices(services => services.Replace(ServiceDescriptor.Singleton<IMemoryPoolFactory<byte>>(connectionBuffers)))
                .Build();
            try
            {
                await host.StartAsync(cancellationToken).ConfigureAwait(false);
            }
            catch
            {
                host.Dispose();
                throw;
            }

            // Kestrel writes the bound endpoint back into the listen options, which is how port 0 becomes a number.
            var bound = amqpListener?.IPEndPoint ?? new IPEndPoint(options.AmqpBindAddress, options.AmqpPort);
            var boundTls = tls is null ? null : amqpsListener?.IPEndPoint ?? new IPEndPoint(options.AmqpBindAddress, options.AmqpsPort!.Value);
            return new HoldfastServer(options, store, broker, amqp, host, bound) { Alarms = alarms, AmqpsEndPoint = boundTls, Tls = tls, Definitions = definitions, ConnectionBuffers = connectionBuffers };
        }
        catch
        {
            tls?.Dispose();
            await store.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Stops accepting, closes connections with 320, then closes the store. Safe to call more than once.</summary>
    public async Task StopAsync()
    {
        if (Interlocked.Exchange(ref _stopped, 1) != 0)
        {
            return;
        }

        try
        {
            // Kestrel unbinds at once and then waits for open connections, which the AMQP close below ends.
            var stopListening = _host.StopAsync(CancellationToken.None);
            await Amqp.CloseAllAsync("broker shutdown", _options.ShutdownTimeout).ConfigureAwait(false);
            await stopListening.ConfigureAwait(false);
        }
        finally
        {
            _host.Dispose();
            Alarms?.Dispose();
            Tls?.Dispose();
            Broker.Dispose();
            await Store.DisposeAsync().ConfigureAwait(false);
        }
    }

    public async ValueTask DisposeAsync() => await StopAsync().ConfigureAwait(false);
}
