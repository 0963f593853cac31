using Holdfast.Broker.Messages;
using Holdfast.Broker.Policies;
using Holdfast.Broker.Routing;
using Holdfast.Broker.Security;
using Holdfast.Testing;

namespace Holdfast.Broker.Tests.Definitions;

/// <summary>A RabbitMQ export imported into an empty broker: every entity it describes exists afterwards, with its properties, and works.</summary>
public sealed class ImportTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task A_realistic_export_creates_its_vhosts_users_permissions_policies_exchanges_queues_and_bindings()
    {
        await using var harness = await DefinitionsHarness.StartAsync();

        var report = await harness.ImportAsync(SampleExport.Json());

        Assert.Equal(["/", "shop"], harness.Users.ListVirtualHosts());
        Assert.Equal(["app", "legacy", "ops", "scripted", "x509-only"], harness.Users.ListUsers().Select(u => u.Name));
        Assert.Equal(["administrator", "monitoring"], harness.Users.FindUser("ops")!.Tags);
        Assert.Equal(["management", "policymaker"], harness.Users.FindUser("legacy")!.Tags);
        Assert.Empty(harness.Users.FindUser("scripted")!.Tags);
        var app = harness.Users.FindPermissions("shop", "app")!;
        Assert.Equal(("^(orders|payments)\\.", ".*", ".*"), (app.Configure, app.Write, app.Read));
        Assert.NotNull(harness.Users.FindPermissions("/", "ops"));
        Assert.Null(harness.Users.FindPermissions("/", "app"));

        var shop = harness.Broker.GetVirtualHost("shop");
        var events = shop.FindExchange("shop.events")!;
        Assert.Equal((ExchangeKind.Topic, true, false, false), (events.Kind, events.Durable, events.AutoDelete, events.Internal));
        Assert.Equal("shop.unrouted", events.AlternateExchange);
        Assert.True(shop.FindExchange("shop.audit")!.Internal);
        Assert.Equal(ExchangeKind.Headers, shop.FindExchange("shop.audit")!.Kind);
        var later = shop.FindExchange("shop.later")!;
        Assert.True(later.DelayedMessage);
        Assert.Equal(ExchangeKind.Direct, later.Kind);
        Assert.Equal("x-delayed-message", later.TypeName);

        var created = shop.FindQueue("orders.created")!.Definition;
        Assert.True(created.Durable);
        Assert.False(created.AutoDelete || created.Exclusive);
        Assert.Equal(60000, Assert.IsType<int>(created.Arguments["x-message-ttl"]));
        Assert.Equal("orders.dlx", Assert.IsType<TextValue>(created.Arguments["x-dead-letter-exchange"]).ToString());
        Assert.Equal("quorum", shop.FindQueue("payments")!.Definition.Arguments["x-queue-type"]!.ToString());
        var scratch = shop.FindQueue("scratch")!.Definition;
        Assert.True(scratch.AutoDelete);
        Assert.False(scratch.Durable);
        Assert.Null(shop.FindQueue("amq.gen-3kVg2WJz"));

        var policy = Assert.Single(shop.Policies);
        Assert.Equal(("orders-cap", "^orders\\.", PolicyTarget.Queues, 1), (policy.Name, policy.Pattern, policy.ApplyTo, policy.Priority));
        Assert.Equal(["max-length"], policy.Definition.Keys);
        Assert.Equal(3, policy.Definition["max-length"]);

        Assert.Equal(2, report.ImportedCount("vhost"));
        Assert.Equal(5, report.ImportedCount("user"));
        Assert.Equal(3, report.ImportedCount("permission"));
        Assert.Equal(1, report.ImportedCount("policy"));
        Assert.Equal(5, report.ImportedCount("exchange"));
        Assert.Equal(7, report.ImportedCount("queue"));
        Assert.Equal(7, report.ImportedCount("binding"));
        Assert.Empty(report.Unchanged);
        Assert.Equal("3.13.7", report.RabbitVersion);
        Assert.StartsWith("definitions from test.json (exported by RabbitMQ 3.13.7): imported 2 vhosts, 5 users, 3 permissions, 1 policy, 5 exchanges, 7 queues, 7 bindings; already present nothing; skipped ", report.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task What_is_not_imported_is_listed_with_the_reason()
    {
        await using var harness = await DefinitionsHarness.StartAsync();

        var report = await harness.ImportAsync(SampleExport.Json());

        string[] expected =
        [
            "\"rabbit_version\" (\"3.13.7\"): describes the exporting node",
            "\"topic_permissions\" (1 entry): topic permissions are not enforced by Holdfast",
            "\"parameters\" (1 entry): runtime parameters (federation, shovels, vhost limits) have no Holdfast counterpart",
            "\"global_parameters\" (2 entries): global runtime parameters (cluster name, ...) have no Holdfast counterpart",
            "user 'x509-only': limits are not enforced by Holdfast",
            "policy 'orders-cap' in vhost 'shop': key(s) ha-mode, ha-sync-mode have no Holdfast counterpart and are left out",
            "queue 'amq.gen-3kVg2WJz' in vhost 'shop': names beginning with 'amq.' are server-generated, and RabbitMQ's import skips them too",
            "binding from exchange 'shop.events' to queue 'amq.gen-3kVg2WJz' with key 'debug.#' in vhost 'shop': its server-named queue is not imported",
        ];
        foreach (var line in expected)
        {
            Assert.Contains(line, report.Skipped);
        }

        Assert.Equal(expected.Length + 3, report.Skipped.Count); // and rabbitmq_version, product_name, product_version
    }

    [Fact]
    public async Task Imported_routes_work_topic_to_queue_exchange_to_exchange_headers_alternate_exchange_and_dead_lettering()
    {
        await using var harness = await DefinitionsHarness.StartAsync();
        await harness.ImportAsync(SampleExport.Json());
        var shop = harness.Broker.GetVirtualHost("shop");
        var (channel, events) = harness.OpenChannel("shop", "app");

        // order.eu.created: the topic binding to orders.created, and through the exchange binding to the
        // internal headers exchange, whose binding wants region = eu.
        var eu = new MessageHeaders([KeyValuePair.Create<string, object?>("region", new TextValue("eu"))]);
        channel.Publish(DefinitionsHarness.Message("shop.events", "order.eu.created", "first", eu), mandatory: true);
        channel.Publish(DefinitionsHarness.Message("shop.events", "order.us.created", "second"), mandatory: true);
        Assert.Equal(2, shop.FindQueue("orders.created")!.ReadyCount);
        Assert.Equal(1, shop.FindQueue("audit")!.ReadyCount);

        // Nothing bound matches: the alternate exchange takes it, so it is not returned.
        channel.Publish(DefinitionsHarness.Message("shop.events", "refund.issued", "third"), mandatory: true);
        Assert.Empty(events.Returns);
        Assert.Equal(1, shop.FindQueue("unrouted")!.ReadyCount);

        // amq.topic, predeclared, to the imported queue with its own limit and overflow behaviour.
        for (var i = 0; i < 3; i++)
        {
            channel.Publish(DefinitionsHarness.Message("amq.topic", "payment.card", $"payment {i}"), mandatory: true);
        }

        Assert.Equal(2, shop.FindQueue("payments")!.ReadyCount);

        // The queue's x-message-ttl, then its x-dead-letter-exchange with the original routing key.
        harness.Clock.Advance(TimeSpan.FromSeconds(61));
        var dead = shop.FindQueue("orders.dead")!;
        await Eventually.TrueAsync(() => dead.ReadyCount == 1 && shop.FindQueue("orders.created")!.ReadyCount == 0, Wait, "both expired; only order.eu.created has a binding at the dead-letter exchange");
    }

    [Fact]
    public async Task The_imported_policy_applies_to_matching_queues()
    {
        await using var harness = await DefinitionsHarness.StartAsync();
        await harness.ImportAsync(SampleExport.Json());
        var (channel, _) = harness.OpenChannel("shop", "ops");

        for (var i = 0; i < 5; i++)
        {
            channel.Publish(DefinitionsHarness.Message("", "orders.dead", $"m{i}"), mandatory: true);
            channel.Publish(DefinitionsHarness.Message("", "audit", $"m{i}"), mandatory: true);
        }

        Assert.Equal(3, harness.Broker.GetVirtualHost("shop").FindQueue("orders.dead")!.ReadyCount);
        Assert.Equal(5, harness.Broker.GetVirtualHost("shop").FindQueue("audit")!.ReadyCount);
    }

    [Fact]
    public async Task Imported_permissions_are_enforced()
    {
        await using var harness = await DefinitionsHarness.StartAsync();
        await harness.ImportAsync(SampleExport.Json());

        Assert.True(harness.Users.CanAccessVirtualHost("app", "shop"));
        Assert.False(harness.Users.CanAccessVirtualHost("app", "/"));
        Assert.True(harness.Users.IsAllowed("app", "shop", Permission.Configure, "orders.new"));
        Assert.False(harness.Users.IsAllowed("app", "shop", Permission.Configure, "audit"));
        Assert.False(harness.Users.CanAccessVirtualHost("scripted", "shop"));
    }

    [Fact]
    public async Task Json_values_become_the_header_types_a_RabbitMQ_client_declares_with()
    {
        await using var harness = await DefinitionsHarness.StartAsync();
        await harness.ImportAsync(SampleExport.Json());

        var arguments = harness.Broker.GetVirtualHost("shop").FindQueue("reminders")!.Definition.Arguments;
        Assert.Equal(5_000_000_000L, Assert.IsType<long>(arguments["x-max-length-bytes"]));
        var list = Assert.IsType<List<object?>>(arguments["x-custom"]);
        Assert.Equal(1, Assert.IsType<int>(list[0]));
        Assert.Equal("two", Assert.IsType<TextValue>(list[1]).ToString());
        Assert.Equal(3.5, Assert.IsType<double>(list[2]));
        var table = Assert.IsType<MessageHeaders>(list[3]);
        Assert.True(table.TryGetHeader("nested", out var nested));
        Assert.Equal(true, nested);
        Assert.Null(list[4]);
    }

    [Fact]
    public async Task A_delayed_message_exchange_from_the_file_holds_and_then_routes()
    {
        await using var harness = await DefinitionsHarness.StartAsync();
        await harness.ImportAsync(SampleExport.Json());
        var shop = harness.Broker.GetVirtualHost("shop");
        var (channel, _) = harness.OpenChannel("shop", "ops");

        var delay = new MessageHeaders([KeyValuePair.Create<string, object?>("x-delay", 5000)]);
        channel.Publish(DefinitionsHarness.Message("shop.later", "soon", "later", delay), mandatory: true);
        await Eventually.TrueAsync(() => shop.DelayedCount == 1, Wait, "the message held");
        Assert.Equal(0, shop.FindQueue("reminders")!.ReadyCount);

        harness.Clock.Advance(TimeSpan.FromSeconds(6));
        await Eventually.TrueAsync(() => shop.FindQueue("reminders")!.ReadyCount == 1, Wait, "the delayed message routed by the imported binding");
    }
}
