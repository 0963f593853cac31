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
    private FaultyDevice? _device;

    private BrokerHarness(TempDirectory directory, MessageStore store, MessageBroker broker)
    {
        _directory = directory;
        _store = store;
        Broker = broker;
    }

    public FakeTimeProvider Clock { get; } = new(new DateTimeOffset(2026, 11, 25, 12, 0, 0, TimeSpan.Zero));

    public MessageBroker Broker { get; private set; }

    public VirtualHost Vhost => Broker.GetVirtualHost("/");

    public MessageStore Store => _store;

    /// <summary>Told what the broker reports from the next restart on.</summary>
    public Monitoring.IBrokerObserver? Observer { get; set; }

    public static async Task<BrokerHarness> StartAsync()
    {
        var directory = new TempDirectory("holdfast-semantics");
        var store = await MessageStore.OpenAsync(Options(directory));
        var harness = new BrokerHarness(directory, store, null!);
        harness.Broker = await MessageBroker.OpenAsync(store, time: harness.Clock);
        return harness;
    }

    /// <summary>A broker on a fault-injecting device with fsync before every confirm, for tests that stall fsyncs and crash.</summary>
    public static async Task<BrokerHarness> StartOnAsync(FaultyDevice device)
    {
        var directory = new TempDirectory("holdfast-semantics");
        var store = await MessageStore.OpenAsync(Options(device));
        var harness = new BrokerHarness(directory, store, null!) { _device = device };
        harness.Broker = await MessageBroker.OpenAsync(store, time: harness.Clock);
        return harness;
    }

    /// <summary>
    /// Crashes the device (what was not fsynced is gone) and opens everything again on what is left.
    /// A stall holding the store's writer is released after the crash, so the held fsync fails as the crash decided.
    /// </summary>
    public async Task CrashAsync(FsyncStall? held = null)
    {
        var device = _device ?? throw new InvalidOperationException("Only a harness on a FaultyDevice can crash.");
        _device = device.Crash();
        held?.Release();
        Broker.Dispose();
        await _store.DisposeAsync();
        _store = await MessageStore.OpenAsync(Options(_device));
        Broker = await MessageBroker.OpenAsync(_store, time: Clock);
    }

    /// <summary>Closes the store cleanly and opens everything again on the same directory, with the same clock.</summary>
    public async Task RestartAsync()
    {
        Broker.Dispose();
        await _store.DisposeAsync();
        _store = await MessageStore.OpenAsync(_device is null ? Options(_directory) : Options(_device));
        Broker = await MessageBroker.OpenAsync(_store, time: Clock, observer: Observer);
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

    private static StoreOptions Options(FaultyDevice device) =>
        new() { Device = device, SegmentSizeBytes = 1 << 20, DefaultFlushPolicy = FlushPolicy.Sync, AutoCompact = false };

    private static StoreOptions Options(TempDirectory directory) =>
        new() { Directory = directory.Path, SegmentSizeBytes = 1 << 20, DefaultFlushPolicy = FlushPolicy.Async };
}
