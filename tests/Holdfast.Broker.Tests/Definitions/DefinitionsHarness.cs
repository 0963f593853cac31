using System.Text;
using Holdfast.Broker.Definitions;
using Holdfast.Broker.Messages;
using Holdfast.Broker.Security;
using Holdfast.Broker.Sessions;
using Holdfast.Broker.Tests.Semantics;
using Holdfast.Storage;
using Holdfast.Testing;
using Microsoft.Extensions.Time.Testing;

namespace Holdfast.Broker.Tests.Definitions;

/// <summary>
/// A broker with a user directory on a real store in a temp directory, with a fake clock, that can be
/// restarted on the same files: what an import is done into, and what must still hold after a restart.
/// </summary>
internal sealed class DefinitionsHarness : IAsyncDisposable
{
    private readonly TempDirectory _directory;
    private readonly SecurityOptions _security;
    private MessageStore _store;

    private DefinitionsHarness(TempDirectory directory, SecurityOptions security, MessageStore store)
    {
        _directory = directory;
        _security = security;
        _store = store;
    }

    public FakeTimeProvider Clock { get; } = new(new DateTimeOffset(2026, 11, 25, 12, 0, 0, TimeSpan.Zero));

    public MessageBroker Broker { get; private set; } = null!;

    public UserDirectory Users { get; private set; } = null!;

    public MessageStore Store => _store;

    /// <param name="createDefaults">False, as the host does when it imports definitions: a blank store then has no guest.</param>
    public static async Task<DefinitionsHarness> StartAsync(bool createDefaults = false)
    {
        var directory = new TempDirectory("holdfast-definitions");

        // Cheap PBKDF2: the tests are about the import, not the cost of Holdfast's own hashes.
        var security = new SecurityOptions { PasswordIterations = 1_000, CreateDefaults = createDefaults };
        var harness = new DefinitionsHarness(directory, security, await MessageStore.OpenAsync(Options(directory)));
        await harness.OpenAsync();
        return harness;
    }

    public Task<DefinitionsImportReport> ImportAsync(string json) =>
        DefinitionsImporter.ImportAsync(Encoding.UTF8.GetBytes(json), Broker, "test.json");

    /// <summary>Closes the store cleanly and opens it, the users and the broker again, as a broker restart does.</summary>
    public async Task RestartAsync()
    {
        Broker.Dispose();
        await _store.DisposeAsync();
        _store = await MessageStore.OpenAsync(Options(_directory));
        await OpenAsync();
    }

    /// <summary>Every metadata record, to show that an import wrote nothing.</summary>
    public Dictionary<string, string> MetadataSnapshot() =>
        _store.GetMetadata().ToDictionary(m => m.Key, m => Convert.ToHexString(m.Value), StringComparer.Ordinal);

    public (BrokerChannel Channel, RecordingEvents Events) OpenChannel(string vhost, string user)
    {
        var events = new RecordingEvents();
        return (Broker.OpenChannel(vhost, 1, user, events), events);
    }

    public static BrokerMessage Message(string exchange, string routingKey, string body, MessageHeaders? headers = null) =>
        new(exchange, routingKey, new MessageProperties { DeliveryMode = 2, Headers = headers }, Encoding.UTF8.GetBytes(body));

    public async ValueTask DisposeAsync()
    {
        Broker.Dispose();
        await _store.DisposeAsync();
        _directory.Dispose();
    }

    private async Task OpenAsync()
    {
        Users = await UserDirectory.LoadAsync(_store, Clock, _security);
        Broker = await MessageBroker.OpenAsync(_store, Users, Clock);
    }

    private static StoreOptions Options(TempDirectory directory) =>
        new() { Directory = directory.Path, SegmentSizeBytes = 1 << 20, DefaultFlushPolicy = FlushPolicy.Async };
}
