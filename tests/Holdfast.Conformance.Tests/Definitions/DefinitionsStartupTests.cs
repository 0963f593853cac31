using System.Text;
using Holdfast.Broker.Definitions;
using Holdfast.Conformance.Tests.Durability;
using Holdfast.Conformance.Tests.Support;
using Holdfast.Hosting;
using Holdfast.Storage;
using Holdfast.Testing;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;
using RabbitMQ.Client.Exceptions;

namespace Holdfast.Conformance.Tests.Definitions;

/// <summary>
/// <c>holdfast run --definitions FILE</c> as a migrating RabbitMQ user meets it: the exported topology
/// and users are there before the listener opens, the unmodified client logs in with the password
/// RabbitMQ hashed, and messages flow through the imported bindings; every later start imports the
/// same file again without changing anything.
/// </summary>
public sealed class DefinitionsStartupTests : IDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    private readonly TempDirectory _directory = new("holdfast-definitions");

    public void Dispose() => _directory.Dispose();

    [Fact]
    public async Task A_user_known_only_by_its_RabbitMQ_hash_logs_in_and_messages_flow_through_the_imported_binding()
    {
        var file = await WriteAsync(MigratedDefinitions.Json());
        await using var broker = await DurableBroker.StartAsync(Store(), o => o with { DefinitionsFile = file });

        Assert.Equal(
            "definitions from '" + file + "' (exported by RabbitMQ 3.13.7): imported 1 vhost, 1 user, 1 permission, 1 exchange, 1 queue, 1 binding; already present nothing; skipped 5",
            broker.Server.Definitions!.ToString());

        await using var connection = await broker.Factory(MigratedDefinitions.User, MigratedDefinitions.Password, "shop").CreateConnectionAsync();
        await using var channel = await connection.CreateChannelAsync(new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true));

        // The application's own declare, as it ran against RabbitMQ: equivalent to the imported queue, so no 406.
        var declared = await channel.QueueDeclareAsync("orders.eu", durable: true, exclusive: false, autoDelete: false, new Dictionary<string, object?> { ["x-message-ttl"] = 60000, ["x-queue-type"] = "classic" });
        Assert.Equal(0u, declared.MessageCount);

        var received = new TaskCompletionSource<(string RoutingKey, string Body)>(TaskCreationOptions.RunContinuationsAsynchronously);
        var consumer = new AsyncEventingBasicConsumer(channel);
        consumer.ReceivedAsync += async (_, delivery) =>
        {
            received.TrySetResult((delivery.RoutingKey, Encoding.UTF8.GetString(delivery.Body.Span)));
            await channel.BasicAckAsync(delivery.DeliveryTag, multiple: false);
        };
        await channel.BasicConsumeAsync("orders.eu", autoAck: false, consumer);

        await channel.BasicPublishAsync("orders", "order.us.created", mandatory: false, new BasicProperties { Persistent = true }, "not for eu"u8.ToArray());
        await channel.BasicPublishAsync("orders", "order.eu.created", mandatory: true, new BasicProperties { Persistent = true }, "order 42"u8.ToArray());

        Assert.Equal(("order.eu.created", "order 42"), await received.Task.WaitAsync(Timeout));
    }

    [Fact]
    public async Task A_blank_store_started_with_definitions_has_no_guest_and_a_wrong_password_is_refused()
    {
        var file = await WriteAsync(MigratedDefinitions.Json());
        await using var broker = await DurableBroker.StartAsync(Store(), o => o with { DefinitionsFile = file });

        var guest = await Assert.ThrowsAnyAsync<Exception>(() => broker.Factory().CreateConnectionAsync());
        Assert.NotNull(Exceptions.Find<AuthenticationFailureException>(guest));
        var wrong = await Assert.ThrowsAnyAsync<Exception>(() => broker.Factory(MigratedDefinitions.User, "test13", "shop").CreateConnectionAsync());
        Assert.NotNull(Exceptions.Find<AuthenticationFailureException>(wrong));
        Assert.Null(broker.Server.Broker.Users!.FindUser("guest"));
    }

    [Fact]
    public async Task Every_start_imports_the_file_again_without_changing_what_is_there()
    {
        var file = await WriteAsync(MigratedDefinitions.Json());
        await using var broker = await DurableBroker.StartAsync(Store(), o => o with { DefinitionsFile = file });
        await using (var connection = await broker.Factory(MigratedDefinitions.User, MigratedDefinitions.Password, "shop").CreateConnectionAsync())
        await using (var channel = await connection.CreateChannelAsync(new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true)))
        {
            await channel.BasicPublishAsync("orders", "order.eu.shipped", mandatory: true, new BasicProperties { Persistent = true }, "kept"u8.ToArray());
        }

        await broker.RestartAsync();

        var report = broker.Server.Definitions!;
        Assert.Empty(report.Imported);
        Assert.Equal(6, report.Unchanged.Count);
        await using (var connection = await broker.Factory(MigratedDefinitions.User, MigratedDefinitions.Password, "shop").CreateConnectionAsync())
        await using (var channel = await connection.CreateChannelAsync())
        {
            var got = await channel.BasicGetAsync("orders.eu", autoAck: true);
            Assert.Equal("kept", Encoding.UTF8.GetString(got!.Body.Span));
        }
    }

    [Fact]
    public async Task A_file_that_conflicts_with_the_store_stops_the_start_with_a_message_naming_the_entity()
    {
        var store = Store();
        var file = await WriteAsync(MigratedDefinitions.Json());
        await using (var first = await DurableBroker.StartAsync(store, o => o with { DefinitionsFile = file }))
        {
        }

        // The file changed since: the queue's TTL is no longer what the store has.
        var changed = await WriteAsync(MigratedDefinitions.Json(ttl: 30000));
        var error = await Assert.ThrowsAsync<DefinitionsException>(() => DurableBroker.StartAsync(store, o => o with { DefinitionsFile = changed }));

        Assert.Equal(
            $"definitions '{changed}' cannot be imported; nothing was changed. Problem: queue 'orders.eu' in vhost 'shop' already exists and argument 'x-message-ttl' is '60000' in the broker but '30000' in the file",
            error.Message);

        // The failed start closed the store: the old file still starts cleanly on it.
        await using var again = await DurableBroker.StartAsync(store, o => o with { DefinitionsFile = file });
        Assert.Empty(again.Server.Definitions!.Imported);
    }

    [Fact]
    public async Task A_missing_file_stops_the_start()
    {
        var missing = Path.Combine(_directory.Path, "missing.json");

        var error = await Assert.ThrowsAsync<DefinitionsException>(() => DurableBroker.StartAsync(Store(), o => o with { DefinitionsFile = missing }));

        Assert.StartsWith($"definitions file '{missing}' cannot be read: ", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_definitions_file_comes_from_the_settings_file_and_the_command_line_overrides_it()
    {
        var settings = Path.Combine(_directory.Path, "holdfast.json");
        File.WriteAllText(settings, """{ "Definitions": "/etc/holdfast/definitions.json" }""");

        Assert.Equal("/etc/holdfast/definitions.json", HoldfastConfiguration.ToServerOptions(HoldfastConfiguration.Build(settings, new Dictionary<string, string?>())).DefinitionsFile);
        Assert.Equal("other.json", HoldfastConfiguration.ToServerOptions(HoldfastConfiguration.Build(settings, new Dictionary<string, string?> { ["Definitions"] = "other.json" })).DefinitionsFile);
        Assert.Null(HoldfastConfiguration.ToServerOptions(HoldfastConfiguration.Build(settings, new Dictionary<string, string?> { ["Definitions"] = " " })).DefinitionsFile);
    }

    [Fact]
    public async Task Run_with_definitions_prints_what_it_imported_and_skipped_then_serves()
    {
        var file = await WriteAsync(MigratedDefinitions.Json());
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await using var holdfast = DotnetProcess.Start(
            "holdfast.dll", "run", "--data-dir", Path.Combine(_directory.Path, "data"), "--amqp-port", "0", "--definitions", file);

        var summary = await holdfast.ReadUntilAsync(l => l.StartsWith("holdfast: definitions from", StringComparison.Ordinal), timeout.Token);
        Assert.Contains("imported 1 vhost, 1 user, 1 permission, 1 exchange, 1 queue, 1 binding", summary, StringComparison.Ordinal);
        var skipped = await holdfast.ReadUntilAsync(l => l.Contains("global_parameters", StringComparison.Ordinal), timeout.Token);
        Assert.Equal("holdfast: definitions: skipped \"global_parameters\" (1 entry): global runtime parameters (cluster name, ...) have no Holdfast counterpart", skipped);
        var ready = await holdfast.ReadUntilAsync(l => l.StartsWith("holdfast: ready", StringComparison.Ordinal), timeout.Token);

        var port = int.Parse(ready.Split("AMQP on ")[1].Split(';')[0].Split(':')[^1], System.Globalization.CultureInfo.InvariantCulture);
        var factory = new ConnectionFactory { HostName = "127.0.0.1", Port = port, UserName = MigratedDefinitions.User, Password = MigratedDefinitions.Password, VirtualHost = "shop", AutomaticRecoveryEnabled = false };
        await using (var connection = await factory.CreateConnectionAsync())
        await using (var channel = await connection.CreateChannelAsync())
        {
            Assert.Equal(0u, (await channel.QueueDeclarePassiveAsync("orders.eu")).MessageCount);
        }

        await holdfast.SignalAsync("TERM");
        Assert.Equal(0, await holdfast.WaitForExitAsync(timeout.Token));
    }

    [Fact]
    public async Task Run_with_a_file_that_is_not_definitions_exits_with_1_and_the_reason()
    {
        var file = await WriteAsync("""{ "queues": [ { "name": "q", "vhost": "/", "durable": "yes", "auto_delete": false } ] }""");
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await using var holdfast = DotnetProcess.Start(
            "holdfast.dll", "run", "--data-dir", Path.Combine(_directory.Path, "data"), "--amqp-port", "0", "--definitions", file);

        Assert.Equal(1, await holdfast.WaitForExitAsync(timeout.Token));
        Assert.Contains($"holdfast: not started: definitions '{file}': queues[0] ('q'): \"durable\" holds a string; it must be true or false", holdfast.StandardError, StringComparison.Ordinal);
    }

    private StoreOptions Store() =>
        new() { Directory = Path.Combine(_directory.Path, "data"), SegmentSizeBytes = 1 << 20, DefaultFlushPolicy = FlushPolicy.Sync };

    private async Task<string> WriteAsync(string json)
    {
        var path = Path.Combine(_directory.Path, $"definitions-{Guid.NewGuid():N}.json");
        await File.WriteAllTextAsync(path, json);
        return path;
    }
}
