using Holdfast.Broker.Definitions;
using Holdfast.Broker.Policies;
using Holdfast.Broker.Routing;
using Holdfast.Broker.Topology;

namespace Holdfast.Broker.Tests.Definitions;

/// <summary>
/// Importing at every start: the same file again changes nothing and fails nothing, an entity the broker
/// has with other properties stops the import before anything is written, and a restart keeps it all.
/// </summary>
public sealed class IdempotenceAndConflictTests
{
    [Fact]
    public async Task Importing_the_same_file_twice_changes_nothing_and_fails_nothing()
    {
        await using var harness = await DefinitionsHarness.StartAsync();
        var json = SampleExport.Json();
        var first = await harness.ImportAsync(json);
        var before = harness.MetadataSnapshot();

        var second = await harness.ImportAsync(json);

        Assert.Empty(second.Imported);
        Assert.Equal(first.Imported.Order(StringComparer.Ordinal), second.Unchanged.Order(StringComparer.Ordinal));
        Assert.Equal(first.Skipped, second.Skipped);
        Assert.Equal(before, harness.MetadataSnapshot());
    }

    [Fact]
    public async Task Everything_imported_survives_a_restart_and_importing_again_after_it_finds_it_all_present()
    {
        await using var harness = await DefinitionsHarness.StartAsync();
        var json = SampleExport.Json();
        await harness.ImportAsync(json);

        await harness.RestartAsync();

        Assert.Equal(["/", "shop"], harness.Users.ListVirtualHosts());
        Assert.True(harness.Users.Authenticate("app", SampleExport.AppPassword).Succeeded);
        Assert.True(harness.Users.Authenticate("ops", SampleExport.OpsPassword).Succeeded);
        Assert.True(harness.Users.Authenticate("legacy", "simon").Succeeded);
        Assert.True(harness.Users.Authenticate("scripted", SampleExport.PlainPassword).Succeeded);
        Assert.False(harness.Users.Authenticate("x509-only", "").Succeeded);
        Assert.Equal("^(orders|payments)\\.", harness.Users.FindPermissions("shop", "app")!.Configure);
        var shop = harness.Broker.GetVirtualHost("shop");
        Assert.Equal("shop.unrouted", shop.FindExchange("shop.events")!.AlternateExchange);
        Assert.True(shop.FindExchange("shop.later")!.DelayedMessage);
        Assert.Equal(60000, shop.FindQueue("orders.created")!.Definition.Arguments["x-message-ttl"]);
        Assert.Equal("orders-cap", Assert.Single(shop.Policies).Name);
        Assert.Null(shop.FindQueue("scratch")); // not durable: a restart does not keep it, in RabbitMQ either

        var (channel, _) = harness.OpenChannel("shop", "app");
        channel.Publish(DefinitionsHarness.Message("shop.events", "order.eu.created", "after restart"), mandatory: true);
        channel.Publish(DefinitionsHarness.Message("shop.events", "nothing.bound", "to the alternate"), mandatory: true);
        Assert.Equal(1, shop.FindQueue("orders.created")!.ReadyCount);
        Assert.Equal(1, shop.FindQueue("unrouted")!.ReadyCount);

        // The start's import: only the transient queue is missing, and it comes back as declared.
        var again = await harness.ImportAsync(json);
        Assert.Equal(["queue 'scratch' in vhost 'shop'"], again.Imported);
        Assert.Equal(7, again.UnchangedCount("binding"));
        Assert.Equal(5, again.UnchangedCount("user"));
    }

    [Fact]
    public async Task A_queue_that_exists_with_other_arguments_stops_the_import_before_anything_is_written()
    {
        await using var harness = await DefinitionsHarness.StartAsync();
        await harness.ImportAsync("""{ "vhosts": [ { "name": "shop" } ] }""");
        await harness.Broker.GetVirtualHost("shop").DeclareQueueAsync(
            new QueueDefinition("orders.created", true, false, false, new Dictionary<string, object?> { ["x-message-ttl"] = 30000 }), 1, passive: false);
        var before = harness.MetadataSnapshot();

        var error = await Assert.ThrowsAsync<DefinitionsException>(() => harness.ImportAsync(SampleExport.Json()));

        Assert.Equal(
            "definitions test.json cannot be imported; nothing was changed. Problem: queue 'orders.created' in vhost 'shop' already exists and argument 'x-dead-letter-exchange' is not set in the broker but 'orders.dlx' in the file",
            error.Message);
        Assert.Equal(before, harness.MetadataSnapshot());
        Assert.Null(harness.Users.FindUser("app"));
        Assert.Null(harness.Broker.GetVirtualHost("shop").FindExchange("shop.events"));
    }

    [Fact]
    public async Task Every_conflict_is_named_in_one_error()
    {
        await using var harness = await DefinitionsHarness.StartAsync();
        await harness.ImportAsync("""{ "vhosts": [ { "name": "shop" } ], "users": [ { "name": "app", "password": "other", "tags": "" } ] }""");
        await harness.Users.SetPermissionsAsync("shop", "app", ".*", ".*", ".*");
        var shop = harness.Broker.GetVirtualHost("shop");
        await shop.DeclareExchangeAsync(new ExchangeDefinition("shop.events", ExchangeKind.Direct, true, false, false, TopologyArguments.Empty), passive: false);
        await shop.DeclareExchangeAsync(new ExchangeDefinition("orders.dlx", ExchangeKind.Direct, false, false, false, TopologyArguments.Empty), passive: false);
        await shop.SetPolicyAsync(new PolicyDefinition("orders-cap", "^orders\\.", PolicyTarget.Queues, 1, new Dictionary<string, object?> { ["max-length"] = 10 }));

        var error = await Assert.ThrowsAsync<DefinitionsException>(() => harness.ImportAsync(SampleExport.Json()));

        Assert.StartsWith("definitions test.json cannot be imported; nothing was changed. 5 problems: ", error.Message, StringComparison.Ordinal);
        Assert.Contains("user 'app' already exists and has a pbkdf2-hmac-sha256 password in the broker, which cannot be compared with the file's rabbit_password_hashing_sha256 hash", error.Message, StringComparison.Ordinal);
        Assert.Contains("permissions of user 'app' in vhost 'shop' already exists and are configure '.*', write '.*', read '.*' in the broker but configure '^(orders|payments)\\.', write '.*', read '.*' in the file", error.Message, StringComparison.Ordinal);
        Assert.Contains("policy 'orders-cap' in vhost 'shop' already exists and definition key 'max-length' is '10' in the broker but '3' in the file", error.Message, StringComparison.Ordinal);
        Assert.Contains("exchange 'shop.events' in vhost 'shop' already exists and is of type direct in the broker but topic in the file", error.Message, StringComparison.Ordinal);
        Assert.Contains("exchange 'orders.dlx' in vhost 'shop' already exists and has durable false in the broker but true in the file", error.Message, StringComparison.Ordinal);
        Assert.Null(shop.FindQueue("orders.created"));
    }

    [Fact]
    public async Task A_user_that_exists_with_a_password_Holdfast_set_cannot_be_compared_with_an_exported_hash()
    {
        await using var harness = await DefinitionsHarness.StartAsync(createDefaults: true);

        // The seeded guest has a PBKDF2 hash; the file's guest a RabbitMQ one (of the same password, as it happens).
        var json = $$"""{ "users": [ { "name": "guest", "password_hash": "{{RabbitHash.Sha256("guest")}}", "hashing_algorithm": "rabbit_password_hashing_sha256", "tags": ["administrator"] } ] }""";
        var error = await Assert.ThrowsAsync<DefinitionsException>(() => harness.ImportAsync(json));

        Assert.Contains(
            "user 'guest' already exists and has a pbkdf2-hmac-sha256 password in the broker, which cannot be compared with the file's rabbit_password_hashing_sha256 hash (leave the user out of the file, or delete it from the broker first)",
            error.Message,
            StringComparison.Ordinal);
    }

    [Fact]
    public async Task Numbers_that_a_client_declared_as_64_bit_are_the_same_as_the_files()
    {
        await using var harness = await DefinitionsHarness.StartAsync();
        await harness.ImportAsync("""{ "vhosts": [ { "name": "shop" } ] }""");
        await harness.Broker.GetVirtualHost("shop").DeclareQueueAsync(
            new QueueDefinition("jobs", true, false, false, new Dictionary<string, object?> { ["x-message-ttl"] = 60000L, ["x-dead-letter-exchange"] = "dlx" }), 1, passive: false);

        var report = await harness.ImportAsync("""
            { "queues": [ { "name": "jobs", "vhost": "shop", "durable": true, "auto_delete": false, "arguments": { "x-message-ttl": 60000, "x-dead-letter-exchange": "dlx" } } ] }
            """);

        Assert.Equal(["queue 'jobs' in vhost 'shop'"], report.Unchanged);
    }

    [Fact]
    public async Task A_file_that_defines_an_entity_twice_differently_is_refused()
    {
        await using var harness = await DefinitionsHarness.StartAsync();

        var error = await Assert.ThrowsAsync<DefinitionsException>(() => harness.ImportAsync("""
            {
              "vhosts": [ { "name": "/" } ],
              "queues": [
                { "name": "q", "vhost": "/", "durable": true, "auto_delete": false, "arguments": {} },
                { "name": "q", "vhost": "/", "durable": false, "auto_delete": false, "arguments": {} }
              ]
            }
            """));

        Assert.Contains("queue 'q' in vhost '/' is defined twice in the file, differently", error.Message, StringComparison.Ordinal);
        Assert.Empty(harness.Users.ListVirtualHosts());
    }

    [Fact]
    public async Task References_to_what_neither_the_file_nor_the_broker_has_are_refused()
    {
        await using var harness = await DefinitionsHarness.StartAsync();

        var error = await Assert.ThrowsAsync<DefinitionsException>(() => harness.ImportAsync("""
            {
              "users": [ { "name": "app", "password_hash": "", "tags": [] } ],
              "permissions": [ { "user": "nobody", "vhost": "/", "configure": ".*", "write": ".*", "read": ".*" } ],
              "queues": [ { "name": "q", "vhost": "/", "durable": true, "auto_delete": false, "arguments": {} } ],
              "bindings": [ { "source": "missing", "vhost": "/", "destination": "q", "destination_type": "queue", "routing_key": "", "arguments": {} } ]
            }
            """));

        Assert.Contains("permissions of user 'nobody' in vhost '/': vhost '/' is neither in the file's \"vhosts\" nor in the broker (a blank broker that imports definitions at start creates no default vhost or user; add them to the file)", error.Message, StringComparison.Ordinal);
        Assert.Contains("queue 'q' in vhost '/': vhost '/' is neither", error.Message, StringComparison.Ordinal);
        Assert.Empty(harness.Users.ListUsers());

        var missingEnds = await Assert.ThrowsAsync<DefinitionsException>(() => harness.ImportAsync("""
            {
              "vhosts": [ { "name": "/" } ],
              "permissions": [ { "user": "nobody", "vhost": "/", "configure": ".*", "write": ".*", "read": ".*" } ],
              "exchanges": [ { "name": "x", "vhost": "/", "type": "direct", "durable": true, "auto_delete": false, "internal": false, "arguments": {} } ],
              "bindings": [
                { "source": "missing", "vhost": "/", "destination": "x", "destination_type": "exchange", "routing_key": "", "arguments": {} },
                { "source": "x", "vhost": "/", "destination": "nowhere", "destination_type": "queue", "routing_key": "", "arguments": {} }
              ]
            }
            """));

        Assert.Contains("permissions of user 'nobody' in vhost '/': user 'nobody' is neither in the file's \"users\" nor in the broker", missingEnds.Message, StringComparison.Ordinal);
        Assert.Contains("binding from exchange 'missing' to exchange 'x' with key '' in vhost '/': exchange 'missing' is neither in the file's \"exchanges\" nor in the broker", missingEnds.Message, StringComparison.Ordinal);
        Assert.Contains("binding from exchange 'x' to queue 'nowhere' with key '' in vhost '/': queue 'nowhere' is neither in the file's \"queues\" nor in the broker", missingEnds.Message, StringComparison.Ordinal);
    }
}
