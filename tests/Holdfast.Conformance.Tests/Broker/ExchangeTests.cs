using Holdfast.Conformance.Tests.Support;
using RabbitMQ.Client;

namespace Holdfast.Conformance.Tests.Broker;

/// <summary>exchange.* methods and routing through every exchange type, as RabbitMQ does them.</summary>
public sealed class ExchangeTests
{
    [Theory]
    [InlineData(ExchangeType.Direct)]
    [InlineData(ExchangeType.Fanout)]
    [InlineData(ExchangeType.Topic)]
    [InlineData(ExchangeType.Headers)]
    public async Task Each_exchange_type_can_be_declared_found_passively_and_deleted(string type)
    {
        await using var broker = await InProcessBroker.StartAsync();
        await using var connection = await broker.Factory().CreateConnectionAsync();
        await using var channel = await connection.CreateChannelAsync();
        var exchange = BrokerKit.Unique("x-" + type);

        await channel.ExchangeDeclareAsync(exchange, type, durable: false, autoDelete: false);
        await channel.ExchangeDeclarePassiveAsync(exchange);
        await channel.ExchangeDeleteAsync(exchange);

        Assert.False(await connection.ExchangeExistsAsync(exchange));
        Assert.True(channel.IsOpen);
    }

    [Fact]
    public async Task Redeclaring_with_identical_properties_is_ok()
    {
        await using var broker = await InProcessBroker.StartAsync();
        await using var connection = await broker.Factory().CreateConnectionAsync();
        await using var channel = await connection.CreateChannelAsync();
        var exchange = BrokerKit.Unique("x");
        var arguments = new Dictionary<string, object?> { ["alternate-exchange"] = "somewhere" };

        await channel.ExchangeDeclareAsync(exchange, ExchangeType.Topic, durable: true, autoDelete: false, arguments: arguments);
        await channel.ExchangeDeclareAsync(exchange, ExchangeType.Topic, durable: true, autoDelete: false, arguments: arguments);

        Assert.True(channel.IsOpen);
        await channel.ExchangeDeleteAsync(exchange);
    }

    [Fact]
    public async Task Redeclaring_with_a_different_type_closes_the_channel_with_406_and_the_connection_stays_usable()
    {
        await using var broker = await InProcessBroker.StartAsync();
        await using var connection = await broker.Factory().CreateConnectionAsync();
        var exchange = BrokerKit.Unique("x");
        await using (var setup = await connection.CreateChannelAsync())
        {
            await setup.ExchangeDeclareAsync(exchange, ExchangeType.Direct);
        }

        await using var channel = await connection.CreateChannelAsync();
        await BrokerKit.RefusedAsync(
            () => channel.ExchangeDeclareAsync(exchange, ExchangeType.Fanout),
            406,
            $"PRECONDITION_FAILED - inequivalent arg 'type' for exchange '{exchange}' in vhost '/': received 'fanout' but current is 'direct'");

        Assert.False(channel.IsOpen);
        await BrokerKit.AssertUsableAsync(connection);
        Assert.True(await connection.ExchangeExistsAsync(exchange));
    }

    [Fact]
    public async Task Redeclaring_with_a_different_durable_flag_is_406()
    {
        await using var broker = await InProcessBroker.StartAsync();
        await using var connection = await broker.Factory().CreateConnectionAsync();
        var exchange = BrokerKit.Unique("x");
        await using (var setup = await connection.CreateChannelAsync())
        {
            await setup.ExchangeDeclareAsync(exchange, ExchangeType.Direct, durable: false);
        }

        await using var channel = await connection.CreateChannelAsync();
        await BrokerKit.RefusedAsync(
            () => channel.ExchangeDeclareAsync(exchange, ExchangeType.Direct, durable: true),
            406,
            $"PRECONDITION_FAILED - inequivalent arg 'durable' for exchange '{exchange}' in vhost '/': received 'true' but current is 'false'");
    }

    [Fact]
    public async Task Passive_declare_of_a_missing_exchange_is_404()
    {
        await using var broker = await InProcessBroker.StartAsync();
        await using var connection = await broker.Factory().CreateConnectionAsync();
        await using var channel = await connection.CreateChannelAsync();
        var exchange = BrokerKit.Unique("missing");

        await BrokerKit.RefusedAsync(() => channel.ExchangeDeclarePassiveAsync(exchange), 404, $"NOT_FOUND - no exchange '{exchange}' in vhost '/'");

        Assert.False(channel.IsOpen);
        await BrokerKit.AssertUsableAsync(connection);
    }

    [Fact]
    public async Task Declaring_a_new_exchange_with_the_amq_prefix_is_403()
    {
        await using var broker = await InProcessBroker.StartAsync();
        await using var connection = await broker.Factory().CreateConnectionAsync();
        await using var channel = await connection.CreateChannelAsync();

        await BrokerKit.RefusedAsync(
            () => channel.ExchangeDeclareAsync("amq.foo", ExchangeType.Direct),
            403,
            "ACCESS_REFUSED - exchange name 'amq.foo' contains reserved prefix 'amq.*'");
        await BrokerKit.AssertUsableAsync(connection);
    }

    [Fact]
    public async Task Declaring_the_default_exchange_is_403()
    {
        await using var broker = await InProcessBroker.StartAsync();
        await using var connection = await broker.Factory().CreateConnectionAsync();
        await using var channel = await connection.CreateChannelAsync();

        await BrokerKit.RefusedAsync(
            () => channel.ExchangeDeclareAsync("", ExchangeType.Direct),
            403,
            "ACCESS_REFUSED - operation not permitted on the default exchange");
    }

    [Fact]
    public async Task An_unknown_exchange_type_is_406_and_closes_only_the_channel()
    {
        await using var broker = await InProcessBroker.StartAsync();
        await using var connection = await broker.Factory().CreateConnectionAsync();
        await using var channel = await connection.CreateChannelAsync();

        if (BrokerKit.IsRabbitMqBefore(connection, 3, 13))
        {
            // RabbitMQ up to 3.12 made this a hard error, 503 COMMAND_INVALID, closing the whole connection;
            // rabbitmq-server#11214 (3.13 and 4.x) made it a channel error. Holdfast follows the newer behaviour.
            await BrokerKit.RefusedAsync(() => channel.ExchangeDeclareAsync(BrokerKit.Unique("x"), "x-no-such-type"), 503, "COMMAND_INVALID - unknown exchange type 'x-no-such-type'");
            await connection.ClosedByServerAsync(503);
            return;
        }

        await BrokerKit.RefusedAsync(
            () => channel.ExchangeDeclareAsync(BrokerKit.Unique("x"), "x-no-such-type"),
            406,
            "PRECONDITION_FAILED - unknown exchange type 'x-no-such-type'");
        await BrokerKit.AssertUsableAsync(connection);
    }

    [Fact]
    public async Task The_predeclared_amq_exchanges_exist_and_can_be_redeclared_equivalently()
    {
        await using var broker = await InProcessBroker.StartAsync();
        await using var connection = await broker.Factory().CreateConnectionAsync();
        await using var channel = await connection.CreateChannelAsync();

        foreach (var name in new[] { "amq.direct", "amq.fanout", "amq.topic", "amq.headers", "amq.match" })
        {
            await channel.ExchangeDeclarePassiveAsync(name);
        }

        // Redeclaring an existing amq.* exchange with its own properties is allowed; only new amq.* names are refused.
        await channel.ExchangeDeclareAsync("amq.direct", ExchangeType.Direct, durable: true, autoDelete: false);
        await channel.ExchangeDeclareAsync("amq.match", ExchangeType.Headers, durable: true, autoDelete: false);
        Assert.True(channel.IsOpen);
    }

    [Fact]
    public async Task The_predeclared_amq_exchanges_route_like_their_type()
    {
        await using var broker = await InProcessBroker.StartAsync();
        await using var connection = await broker.Factory().CreateConnectionAsync();
        await using var channel = await connection.CreateConfirmingChannelAsync();
        var queue = await channel.DeclareQueueAsync();
        await channel.QueueBindAsync(queue, "amq.direct", queue);
        await channel.QueueBindAsync(queue, "amq.fanout", "");
        await channel.QueueBindAsync(queue, "amq.topic", "conformance.#");

        await channel.PublishAsync("amq.direct", queue, "direct");
        await channel.PublishAsync("amq.fanout", "anything", "fanout");
        await channel.PublishAsync("amq.topic", "conformance.a.b", "topic");

        Assert.Equal(["direct", "fanout", "topic"], await channel.DrainAsync(queue));
        await channel.QueueDeleteAsync(queue);
    }

    [Fact]
    public async Task Deleting_a_predeclared_amq_exchange_is_403()
    {
        await using var broker = await InProcessBroker.StartAsync();
        await using var connection = await broker.Factory().CreateConnectionAsync();
        await using var channel = await connection.CreateChannelAsync();

        await BrokerKit.RefusedAsync(
            () => channel.ExchangeDeleteAsync("amq.direct"),
            403,
            "ACCESS_REFUSED - deletion of system exchange 'amq.direct' in vhost '/' not allowed");
        Assert.True(await connection.ExchangeExistsAsync("amq.direct"));
    }

    [Fact]
    public async Task Deleting_a_missing_exchange_is_ok()
    {
        await using var broker = await InProcessBroker.StartAsync();
        await using var connection = await broker.Factory().CreateConnectionAsync();
        await using var channel = await connection.CreateChannelAsync();

        await channel.ExchangeDeleteAsync(BrokerKit.Unique("never-declared"));

        Assert.True(channel.IsOpen);
    }

    [Fact]
    public async Task Delete_if_unused_refuses_an_exchange_with_a_binding_with_406_and_succeeds_once_unbound()
    {
        await using var broker = await InProcessBroker.StartAsync();
        await using var connection = await broker.Factory().CreateConnectionAsync();
        var exchange = BrokerKit.Unique("x");
        string queue;
        await using (var setup = await connection.CreateChannelAsync())
        {
            await setup.ExchangeDeclareAsync(exchange, ExchangeType.Direct);
            queue = await setup.DeclareQueueAsync();
            await setup.QueueBindAsync(queue, exchange, "k");
        }

        await using (var channel = await connection.CreateChannelAsync())
        {
            await BrokerKit.RefusedAsync(
                () => channel.ExchangeDeleteAsync(exchange, ifUnused: true),
                406,
                $"PRECONDITION_FAILED - exchange '{exchange}' in vhost '/' in use");
        }

        Assert.True(await connection.ExchangeExistsAsync(exchange));
        await using var again = await connection.CreateChannelAsync();
        await again.QueueUnbindAsync(queue, exchange, "k");
        await again.ExchangeDeleteAsync(exchange, ifUnused: true);
        Assert.False(await connection.ExchangeExistsAsync(exchange));
        await again.QueueDeleteAsync(queue);
    }

    [Fact]
    public async Task Deleting_an_exchange_removes_its_bindings()
    {
        await using var broker = await InProcessBroker.StartAsync();
        await using var connection = await broker.Factory().CreateConnectionAsync();
        await using var channel = await connection.CreateConfirmingChannelAsync();
        var exchange = BrokerKit.Unique("x");
        await channel.ExchangeDeclareAsync(exchange, ExchangeType.Fanout);
        var queue = await channel.DeclareQueueAsync();
        await channel.QueueBindAsync(queue, exchange, "");

        await channel.ExchangeDeleteAsync(exchange);
        await channel.ExchangeDeclareAsync(exchange, ExchangeType.Fanout);
        await channel.PublishAsync(exchange, "", "after-recreate");

        Assert.Empty(await channel.DrainAsync(queue));
        await channel.ExchangeDeleteAsync(exchange);
        await channel.QueueDeleteAsync(queue);
    }

    [Fact]
    public async Task An_auto_delete_exchange_goes_when_its_last_binding_is_removed_but_not_before_it_had_one()
    {
        await using var broker = await InProcessBroker.StartAsync();
        await using var connection = await broker.Factory().CreateConnectionAsync();
        await using var channel = await connection.CreateChannelAsync();
        var exchange = BrokerKit.Unique("x-auto");
        await channel.ExchangeDeclareAsync(exchange, ExchangeType.Fanout, durable: false, autoDelete: true);
        Assert.True(await connection.ExchangeExistsAsync(exchange));

        var first = await channel.DeclareQueueAsync();
        var second = await channel.DeclareQueueAsync();
        await channel.QueueBindAsync(first, exchange, "");
        await channel.QueueBindAsync(second, exchange, "");
        await channel.QueueUnbindAsync(first, exchange, "");
        Assert.True(await connection.ExchangeExistsAsync(exchange));

        await channel.QueueUnbindAsync(second, exchange, "");

        await BrokerKit.EventuallyAsync(async () => !await connection.ExchangeExistsAsync(exchange), "auto-delete exchange deleted");
        await channel.QueueDeleteAsync(first);
        await channel.QueueDeleteAsync(second);
    }

    [Fact]
    public async Task An_exchange_to_exchange_binding_routes_and_unbinding_stops_it()
    {
        await using var broker = await InProcessBroker.StartAsync();
        await using var connection = await broker.Factory().CreateConnectionAsync();
        await using var channel = await connection.CreateConfirmingChannelAsync();
        var source = BrokerKit.Unique("x-src");
        var destination = BrokerKit.Unique("x-dst");
        await channel.ExchangeDeclareAsync(source, ExchangeType.Direct);
        await channel.ExchangeDeclareAsync(destination, ExchangeType.Topic);
        var queue = await channel.DeclareQueueAsync();
        await channel.QueueBindAsync(queue, destination, "orders.*");
        await channel.ExchangeBindAsync(destination, source, "orders.new");

        await channel.PublishAsync(source, "orders.new", "routed-through-two");
        await channel.PublishAsync(source, "orders.old", "no-binding-at-source");
        Assert.Equal(["routed-through-two"], await channel.DrainAsync(queue));

        await channel.ExchangeUnbindAsync(destination, source, "orders.new");
        await channel.PublishAsync(source, "orders.new", "after-unbind");
        Assert.Empty(await channel.DrainAsync(queue));

        await channel.ExchangeDeleteAsync(source);
        await channel.ExchangeDeleteAsync(destination);
        await channel.QueueDeleteAsync(queue);
    }

    [Fact]
    public async Task A_message_reaching_a_queue_twice_through_two_paths_is_delivered_once()
    {
        await using var broker = await InProcessBroker.StartAsync();
        await using var connection = await broker.Factory().CreateConnectionAsync();
        await using var channel = await connection.CreateConfirmingChannelAsync();
        var source = BrokerKit.Unique("x-src");
        var middle = BrokerKit.Unique("x-mid");
        await channel.ExchangeDeclareAsync(source, ExchangeType.Fanout);
        await channel.ExchangeDeclareAsync(middle, ExchangeType.Fanout);
        var queue = await channel.DeclareQueueAsync();
        await channel.QueueBindAsync(queue, source, "");
        await channel.QueueBindAsync(queue, middle, "");
        await channel.ExchangeBindAsync(middle, source, "");

        await channel.PublishAsync(source, "", "once");

        Assert.Equal(["once"], await channel.DrainAsync(queue));
        await channel.ExchangeDeleteAsync(source);
        await channel.ExchangeDeleteAsync(middle);
        await channel.QueueDeleteAsync(queue);
    }

    [Fact]
    public async Task An_alternate_exchange_receives_what_the_exchange_cannot_route_and_mandatory_is_then_satisfied()
    {
        await using var broker = await InProcessBroker.StartAsync();
        await using var connection = await broker.Factory().CreateConnectionAsync();
        await using var channel = await connection.CreateConfirmingChannelAsync();
        var alternate = BrokerKit.Unique("x-ae");
        var exchange = BrokerKit.Unique("x-main");
        await channel.ExchangeDeclareAsync(alternate, ExchangeType.Fanout);
        await channel.ExchangeDeclareAsync(exchange, ExchangeType.Direct, arguments: new Dictionary<string, object?> { ["alternate-exchange"] = alternate });
        var routed = await channel.DeclareQueueAsync("routed");
        var unrouted = await channel.DeclareQueueAsync("unrouted");
        await channel.QueueBindAsync(routed, exchange, "known");
        await channel.QueueBindAsync(unrouted, alternate, "");

        await channel.PublishAsync(exchange, "known", "to-main");
        // Mandatory: routed via the alternate exchange, so no basic.return (tracking would throw PublishReturnException).
        await channel.PublishAsync(exchange, "unknown", "to-alternate", mandatory: true);

        Assert.Equal(["to-main"], await channel.DrainAsync(routed));
        Assert.Equal(["to-alternate"], await channel.DrainAsync(unrouted));
        await channel.ExchangeDeleteAsync(exchange);
        await channel.ExchangeDeleteAsync(alternate);
        await channel.QueueDeleteAsync(routed);
        await channel.QueueDeleteAsync(unrouted);
    }

    [Fact]
    public async Task Publishing_directly_to_an_internal_exchange_is_403_but_it_routes_from_another_exchange()
    {
        await using var broker = await InProcessBroker.StartAsync();
        var front = BrokerKit.Unique("x-front");
        var inner = BrokerKit.Unique("x-internal");

        // RabbitMQ.Client 7 cannot set exchange.declare's internal bit, so the internal exchange is declared raw.
        await RawChannel.DeclareInternalExchangeAsync(broker, inner, ExchangeType.Fanout);
        await using var connection = await broker.Factory().CreateConnectionAsync();
        string queue;
        await using (var setup = await connection.CreateConfirmingChannelAsync())
        {
            await setup.ExchangeDeclareAsync(front, ExchangeType.Fanout);
            queue = await setup.DeclareQueueAsync();
            await setup.QueueBindAsync(queue, inner, "");
            await setup.ExchangeBindAsync(inner, front, "");
            await setup.PublishAsync(front, "", "via-front");
            Assert.Equal(["via-front"], await setup.DrainAsync(queue));
        }

        await using var channel = await connection.CreateChannelAsync();
        await channel.PublishAsync(inner, "", "direct-to-internal");
        await channel.ClosedByServerAsync(403, $"ACCESS_REFUSED - cannot publish to internal exchange '{inner}' in vhost '/'");

        await using var cleanup = await connection.CreateChannelAsync();
        Assert.Empty(await cleanup.DrainAsync(queue));
        await cleanup.ExchangeDeleteAsync(front);
        await cleanup.ExchangeDeleteAsync(inner);
        await cleanup.QueueDeleteAsync(queue);
    }

    [Fact]
    public async Task Topic_routing_star_matches_one_word_and_hash_matches_zero_or_more()
    {
        await using var broker = await InProcessBroker.StartAsync();
        await using var connection = await broker.Factory().CreateConnectionAsync();
        await using var channel = await connection.CreateConfirmingChannelAsync();
        var exchange = BrokerKit.Unique("x-topic");
        await channel.ExchangeDeclareAsync(exchange, ExchangeType.Topic);
        var patterns = new[] { "a.*", "a.#", "a.#.z", "#", "*", "*.*", "a.b", "#.z", "a.*.#" };
        var queues = new Dictionary<string, string>();
        foreach (var pattern in patterns)
        {
            queues[pattern] = await channel.DeclareQueueAsync("topic");
            await channel.QueueBindAsync(queues[pattern], exchange, pattern);
        }

        var keys = new[] { "a", "a.b", "a.b.c", "a.z", "a.b.z", "b", "z", "" };
        foreach (var key in keys)
        {
            await channel.PublishAsync(exchange, key, "key:" + key);
        }

        var expected = new Dictionary<string, string[]>
        {
            ["a.*"] = ["a.b", "a.z"],
            ["a.#"] = ["a", "a.b", "a.b.c", "a.z", "a.b.z"],
            ["a.#.z"] = ["a.z", "a.b.z"],
            ["#"] = ["a", "a.b", "a.b.c", "a.z", "a.b.z", "b", "z", ""],
            ["*"] = ["a", "b", "z"],
            ["*.*"] = ["a.b", "a.z"],
            ["a.b"] = ["a.b"],
            ["#.z"] = ["a.z", "a.b.z", "z"],
            ["a.*.#"] = ["a.b", "a.b.c", "a.z", "a.b.z"],
        };
        foreach (var pattern in patterns)
        {
            var got = await channel.DrainAsync(queues[pattern]);
            Assert.True(expected[pattern].Select(k => "key:" + k).SequenceEqual(got), $"pattern '{pattern}' got [{string.Join(", ", got)}]");
        }

        await channel.ExchangeDeleteAsync(exchange);
        foreach (var queue in queues.Values)
        {
            await channel.QueueDeleteAsync(queue);
        }
    }

    [Fact]
    public async Task Direct_routing_is_exact_and_one_message_reaches_every_matching_queue()
    {
        await using var broker = await InProcessBroker.StartAsync();
        await using var connection = await broker.Factory().CreateConnectionAsync();
        await using var channel = await connection.CreateConfirmingChannelAsync();
        var exchange = BrokerKit.Unique("x-direct");
        await channel.ExchangeDeclareAsync(exchange, ExchangeType.Direct);
        var red1 = await channel.DeclareQueueAsync();
        var red2 = await channel.DeclareQueueAsync();
        var blue = await channel.DeclareQueueAsync();
        await channel.QueueBindAsync(red1, exchange, "red");
        await channel.QueueBindAsync(red2, exchange, "red");
        await channel.QueueBindAsync(blue, exchange, "blue");
        await channel.QueueBindAsync(blue, exchange, "red.*");

        await channel.PublishAsync(exchange, "red", "r");
        await channel.PublishAsync(exchange, "blue", "b");
        await channel.PublishAsync(exchange, "red.x", "no-wildcards-in-direct");
        await channel.PublishAsync(exchange, "red.*", "literal");

        Assert.Equal(["r"], await channel.DrainAsync(red1));
        Assert.Equal(["r"], await channel.DrainAsync(red2));
        Assert.Equal(["b", "literal"], await channel.DrainAsync(blue));
        await channel.ExchangeDeleteAsync(exchange);
        foreach (var queue in new[] { red1, red2, blue })
        {
            await channel.QueueDeleteAsync(queue);
        }
    }

    [Fact]
    public async Task Headers_routing_supports_all_any_and_the_with_x_variants()
    {
        await using var broker = await InProcessBroker.StartAsync();
        await using var connection = await broker.Factory().CreateConnectionAsync();
        await using var channel = await connection.CreateConfirmingChannelAsync();
        var exchange = BrokerKit.Unique("x-headers");
        await channel.ExchangeDeclareAsync(exchange, ExchangeType.Headers);

        var bindings = new Dictionary<string, Dictionary<string, object?>>
        {
            ["all"] = new() { ["x-match"] = "all", ["format"] = "pdf", ["type"] = "report" },
            ["any"] = new() { ["x-match"] = "any", ["format"] = "pdf", ["type"] = "report" },
            ["default-is-all"] = new() { ["format"] = "pdf", ["type"] = "report" },
            ["any-with-x"] = new() { ["x-match"] = "any-with-x", ["x-tag"] = "t1" },
            ["all-with-x"] = new() { ["x-match"] = "all-with-x", ["format"] = "pdf", ["x-tag"] = "t1" },
            ["any-ignores-x"] = new() { ["x-match"] = "any", ["x-tag"] = "t1" },
            ["all-ignores-x"] = new() { ["x-match"] = "all", ["format"] = "zip", ["x-tag"] = "t1" },
        };
        var queues = new Dictionary<string, string>();
        foreach (var (name, arguments) in bindings)
        {
            queues[name] = await channel.DeclareQueueAsync("headers");
            await channel.QueueBindAsync(queues[name], exchange, "ignored-routing-key", arguments);
        }

        var messages = new (string Body, Dictionary<string, object?>? Headers)[]
        {
            ("m1", new() { ["format"] = "pdf", ["type"] = "report" }),
            ("m2", new() { ["format"] = "pdf", ["type"] = "log" }),
            ("m3", new() { ["format"] = "zip" }),
            ("m4", new() { ["format"] = "pdf", ["x-tag"] = "t1" }),
            ("m5", null),
            ("m6", new() { ["format"] = "pdf", ["type"] = "report", ["extra"] = 1 }),
        };
        foreach (var (body, headers) in messages)
        {
            await channel.PublishAsync(exchange, "whatever", body, properties: new BasicProperties { Headers = headers });
        }

        var expected = new Dictionary<string, string[]>
        {
            ["all"] = ["m1", "m6"],
            ["any"] = ["m1", "m2", "m4", "m6"],
            ["default-is-all"] = ["m1", "m6"],
            ["any-with-x"] = ["m4"],
            ["all-with-x"] = ["m4"],
            ["any-ignores-x"] = [],
            ["all-ignores-x"] = ["m3"],
        };
        foreach (var name in bindings.Keys)
        {
            var got = await channel.DrainAsync(queues[name]);
            Assert.True(expected[name].SequenceEqual(got), $"binding '{name}' got [{string.Join(", ", got)}]");
        }

        await channel.ExchangeDeleteAsync(exchange);
        foreach (var queue in queues.Values)
        {
            await channel.QueueDeleteAsync(queue);
        }
    }

    [Fact]
    public async Task The_default_exchange_routes_by_queue_name_to_every_queue()
    {
        await using var broker = await InProcessBroker.StartAsync();
        await using var connection = await broker.Factory().CreateConnectionAsync();
        await using var channel = await connection.CreateConfirmingChannelAsync();
        var first = await channel.DeclareQueueAsync();
        var second = await channel.DeclareQueueAsync();

        await channel.PublishAsync("", first, "one");
        await channel.PublishAsync("", second, "two");
        await channel.PublishAsync("", BrokerKit.Unique("nobody"), "dropped");

        Assert.Equal(["one"], await channel.DrainAsync(first));
        Assert.Equal(["two"], await channel.DrainAsync(second));
        await channel.QueueDeleteAsync(first);
        await channel.QueueDeleteAsync(second);
    }

    [Fact]
    public async Task Binding_a_queue_to_the_default_exchange_is_403()
    {
        await using var broker = await InProcessBroker.StartAsync();
        await using var connection = await broker.Factory().CreateConnectionAsync();
        string queue;
        await using (var setup = await connection.CreateChannelAsync())
        {
            queue = await setup.DeclareQueueAsync();
        }

        await using var channel = await connection.CreateChannelAsync();
        await BrokerKit.RefusedAsync(
            () => channel.QueueBindAsync(queue, "", "other-key"),
            403,
            "ACCESS_REFUSED - operation not permitted on the default exchange");
        await BrokerKit.AssertUsableAsync(connection);
    }

    [Fact]
    public async Task Binding_to_a_missing_exchange_or_a_missing_queue_is_404()
    {
        await using var broker = await InProcessBroker.StartAsync();
        await using var connection = await broker.Factory().CreateConnectionAsync();
        string queue;
        var exchange = BrokerKit.Unique("x");
        await using (var setup = await connection.CreateChannelAsync())
        {
            queue = await setup.DeclareQueueAsync();
            await setup.ExchangeDeclareAsync(exchange, ExchangeType.Direct);
        }

        var missingExchange = BrokerKit.Unique("missing-x");
        await using (var channel = await connection.CreateChannelAsync())
        {
            await BrokerKit.RefusedAsync(() => channel.QueueBindAsync(queue, missingExchange, "k"), 404, $"NOT_FOUND - no exchange '{missingExchange}' in vhost '/'");
        }

        var missingQueue = BrokerKit.Unique("missing-q");
        await using (var channel = await connection.CreateChannelAsync())
        {
            await BrokerKit.RefusedAsync(() => channel.QueueBindAsync(missingQueue, exchange, "k"), 404, $"NOT_FOUND - no queue '{missingQueue}' in vhost '/'");
        }

        await using (var channel = await connection.CreateChannelAsync())
        {
            await BrokerKit.RefusedAsync(() => channel.ExchangeBindAsync(missingExchange, exchange, "k"), 404, $"NOT_FOUND - no exchange '{missingExchange}' in vhost '/'");
        }

        await BrokerKit.AssertUsableAsync(connection);
    }

    [Fact]
    public async Task Binding_twice_is_idempotent_and_one_unbind_removes_it()
    {
        await using var broker = await InProcessBroker.StartAsync();
        await using var connection = await broker.Factory().CreateConnectionAsync();
        await using var channel = await connection.CreateConfirmingChannelAsync();
        var exchange = BrokerKit.Unique("x");
        await channel.ExchangeDeclareAsync(exchange, ExchangeType.Direct);
        var queue = await channel.DeclareQueueAsync();

        await channel.QueueBindAsync(queue, exchange, "k");
        await channel.QueueBindAsync(queue, exchange, "k");
        await channel.PublishAsync(exchange, "k", "bound-twice");
        Assert.Equal(["bound-twice"], await channel.DrainAsync(queue));

        await channel.QueueUnbindAsync(queue, exchange, "k");
        await channel.PublishAsync(exchange, "k", "unbound");
        Assert.Empty(await channel.DrainAsync(queue));

        // Unbinding what is not bound is fine too.
        await channel.QueueUnbindAsync(queue, exchange, "never-bound");
        Assert.True(channel.IsOpen);
        await channel.ExchangeDeleteAsync(exchange);
        await channel.QueueDeleteAsync(queue);
    }
}
