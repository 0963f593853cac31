using Holdfast.Broker.Messages;
using Holdfast.Broker.Sessions;
using Holdfast.Broker.Topology;
using Holdfast.Storage;
using Holdfast.Testing;
using Microsoft.Extensions.Time.Testing;

namespace Holdfast.Broker.Tests.Semantics;

/// <summary>A broker on a real store in a temp directory, with a fake clock, driven through its protocol-neutral API.</summary>
internal sealed class BrokerHarness : IAsyncDisposable
{
    private readonly TempDirectory _directory;
    private MessageStore _store;

    private BrokerHarness(TempDirectory directory, MessageStore store, MessageBroker broker)
    {
        _directory = directory;
        _store = store;
        Broker = broker;
    }

    public FakeTimeProvider Clock { get; } = new(new DateTimeOffset(2026, 11, 25, 12, 0, 0, TimeSpan.Zero));

    public MessageBroker Broker { get; private set; }

    public VirtualHost Vhost => Broker.GetVirtualHost("/");

    public static async Task<BrokerHarness> StartAsync()
    {
        var directory = new TempDirectory("holdfast-semantics");
        var store = await MessageStore.OpenAsync(Options(directory));
        var harness = new BrokerHarness(directory, store, null!);
        harness.Broker = await MessageBroker.OpenAsync(store, time: harness.Clock);
        return harness;
    }

    /// <summary>Closes the store cleanly and opens everything again on the same directory, with the same clock.</summary>
    public async Task RestartAsync()
    {
        Broker.Dispose();
        await _store.DisposeAsync();
        _store = await MessageStore.OpenAsync(Options(_directory));
        Broker = await MessageBroker.OpenAsync(_store, time: Clock);
    }

    public (BrokerChannel Channel, RecordingEvents Events) OpenChannel(long connectionId = 1)
    {
        var events = new RecordingEvents();
        return (Broker.OpenChannel("/", connectionId, "guest", events), events);
    }

    public Task DeclareQueueAsync(string name, bool durable = true, params (string Key, object? Value)[] arguments) =>
        Vhost.DeclareQueueAsync(new QueueDefinition(name, durable, false, false, arguments.ToDictionary(a => a.Key, a => a.Value)), 1, passive: false);

    public static BrokerMessage Message(string exchange, string routingKey, string body, bool persistent = true, string? expiration = null, MessageHeaders? headers = null) =>
        new(exchange, routingKey, new MessageProperties { DeliveryMode = persistent ? (byte)2 : (byte)1, Expiration = expiration, Headers = headers }, System.Text.Encoding.UTF8.GetBytes(body));

    public async ValueTask DisposeAsync()
    {
        Broker.Dispose();
        await _store.DisposeAsync();
        _directory.Dispose();
    }

    private static StoreOptions Options(TempDirectory directory) =>
        new() { Directory = directory.Path, SegmentSizeBytes = 1 << 20, DefaultFlushPolicy = FlushPolicy.Async };
}
