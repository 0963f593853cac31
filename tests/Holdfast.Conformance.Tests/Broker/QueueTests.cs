using Holdfast.Conformance.Tests.Support;
using RabbitMQ.Client;

namespace Holdfast.Conformance.Tests.Broker;

/// <summary>queue.* methods and queue lifecycles (exclusive, auto-delete), as RabbitMQ does them.</summary>
public sealed class QueueTests
{
    [Fact]
    public async Task A_server_named_queue_gets_an_amq_gen_name_unique_per_declare()
    {
        await using var broker = await InProcessBroker.StartAsync();
        await using var connection = await broker.Factory().CreateConnectionAsync();
        await using var channel = await connection.CreateConfirmingChannelAsync();

        var first = await channel.QueueDeclareAsync("", durable: false, exclusive: true, autoDelete: true);
        var second = await channel.QueueDeclareAsync("", durable: false, exclusive: true, autoDelete: true);

        Assert.StartsWith("amq.gen-", first.QueueName, StringComparison.Ordinal);
        Assert.StartsWith("amq.gen-", second.QueueName, StringComparison.Ordinal);
        Assert.NotEqual(first.QueueName, second.QueueName);
        Assert.Equal(0u, first.MessageCount);
        Assert.Equal(0u, first.ConsumerCount);

        // The generated name is a real queue: the default exchange routes to it.
        await channel.PublishAsync("", first.QueueName, "hello");
        Assert.Equal(["hello"], await channel.DrainAsync(first.QueueName));
    }

    [Fact]
    public async Task Declare_ok_counts_ready_messages_and_consumers_but_not_unacked_messages()
    {
        await using var broker = await InProcessBroker.StartAsync();
        await using var connection = await broker.Factory().CreateConnectionAsync();
        await using var channel = await connection.CreateConfirmingChannelAsync();
        var queue = await channel.DeclareQueueAsync();
        for (int i = 0; i < 3; i++)
        {
            await channel.PublishAsync("", queue, "m" + i);
        }

        var idle = await channel.QueueDeclareAsync(queue, durable: false, exclusive: false, autoDelete: false);
        Assert.Equal((3u, 0u), (idle.MessageCount, idle.ConsumerCount));

        // Two consumers with prefetch 1 each: two messages unacked, one ready.
        await using var consuming = await connection.CreateChannelAsync();
        await consuming.BasicQosAsync(0, 1, global: false);
        var one = new ProbeConsumer(consuming);
        var two = new ProbeConsumer(consuming);
        await consuming.BasicConsumeAsync(queue, autoAck: false, one);
        await consuming.BasicConsumeAsync(queue, autoAck: false, two);
        await one.NextAsync();
        await two.NextAsync();

        var busy = await channel.QueueDeclarePassiveAsync(queue);
        Assert.Equal((1u, 2u), (busy.MessageCount, busy.ConsumerCount));
        Assert.Equal(1u, await channel.MessageCountAsync(queue));
        Assert.Equal(2u, await channel.ConsumerCountAsync(queue));

        await consuming.CloseAsync();
        await channel.QueueDeleteAsync(queue);
    }

    [Fact]
    public async Task Passive_declare_of_a_missing_queue_is_404_and_closes_only_the_channel()
    {
        await using var broker = await InProcessBroker.StartAsync();
        await using var connection = await broker.Factory().CreateConnectionAsync();
        await using var channel = await connection.CreateChannelAsync();
        var queue = BrokerKit.Unique("missing");

        await BrokerKit.RefusedAsync(() => channel.QueueDeclarePassiveAsync(queue), 404, $"NOT_FOUND - no queue '{queue}' in vhost '/'");

        Assert.False(channel.IsOpen);
        await BrokerKit.AssertUsableAsync(connection);
    }

    [Fact]
    public async Task Redeclaring_with_identical_properties_and_arguments_is_ok()
    {
        await using var broker = await InProcessBroker.StartAsync();
        await using var connection = await broker.Factory().CreateConnectionAsync();
        await using var channel = await connection.CreateChannelAsync();
        var queue = BrokerKit.Unique("q");
        var arguments = new Dictionary<string, object?> { ["x-message-ttl"] = 60000, ["x-max-length"] = 10 };

        await channel.QueueDeclareAsync(queue, durable: true, exclusive: false, autoDelete: false, arguments: arguments);
        var again = await channel.QueueDeclareAsync(queue, durable: true, exclusive: false, autoDelete: false, arguments: arguments);

        Assert.Equal(queue, again.QueueName);
        await channel.QueueDeleteAsync(queue);
    }

    [Theory]
    [InlineData("durable")]
    [InlineData("auto_delete")]
    public async Task Redeclaring_with_a_different_flag_is_406(string flag)
    {
        await using var broker = await InProcessBroker.StartAsync();
        await using var connection = await broker.Factory().CreateConnectionAsync();
        var queue = BrokerKit.Unique("q");
        await using (var setup = await connection.CreateChannelAsync())
        {
            await setup.QueueDeclareAsync(queue, durable: false, exclusive: false, autoDelete: false);
        }

        await using var channel = await connection.CreateChannelAsync();
        await BrokerKit.RefusedAsync(
            () => channel.QueueDeclareAsync(queue, durable: flag == "durable", exclusive: false, autoDelete: flag == "auto_delete"),
            406,
            $"PRECONDITION_FAILED - inequivalent arg '{flag}' for queue '{queue}' in vhost '/': received 'true' but current is 'false'");

        await BrokerKit.AssertUsableAsync(connection);
        await using var cleanup = await connection.CreateChannelAsync();
        await cleanup.QueueDeleteAsync(queue);
    }

    [Fact]
    public async Task Redeclaring_with_a_different_argument_value_is_406()
    {
        await using var broker = await InProcessBroker.StartAsync();
        await using var connection = await broker.Factory().CreateConnectionAsync();
        var queue = BrokerKit.Unique("q");
        await using (var setup = await connection.CreateChannelAsync())
        {
            await setup.QueueDeclareAsync(queue, durable: false, exclusive: false, autoDelete: false, arguments: new Dictionary<string, object?> { ["x-message-ttl"] = 1000 });
        }

        await using (var channel = await connection.CreateChannelAsync())
        {
            await BrokerKit.RefusedAsync(
                () => channel.QueueDeclareAsync(queue, durable: false, exclusive: false, autoDelete: false, arguments: new Dictionary<string, object?> { ["x-message-ttl"] = 2000 }),
                406,
                $"PRECONDITION_FAILED - inequivalent arg 'x-message-ttl' for queue '{queue}' in vhost '/': received '2000' but current is '1000'");
        }

        await using (var channel = await connection.CreateChannelAsync())
        {
            await BrokerKit.RefusedAsync(
                () => channel.QueueDeclareAsync(queue, durable: false, exclusive: false, autoDelete: false, arguments: new Dictionary<string, object?> { ["x-max-length"] = 5, ["x-message-ttl"] = 1000 }),
                406,
                $"PRECONDITION_FAILED - inequivalent arg 'x-max-length' for queue '{queue}' in vhost '/': received the value '5' of type 'signedint' but current is none");
        }

        await using var cleanup = await connection.CreateChannelAsync();
        await cleanup.QueueDeleteAsync(queue);
    }

    [Fact]
    public async Task Redeclaring_a_shared_queue_as_exclusive_is_405_resource_locked()
    {
        await using var broker = await InProcessBroker.StartAsync();
        await using var connection = await broker.Factory().CreateConnectionAsync();
        var queue = BrokerKit.Unique("q");
        await using (var setup = await connection.CreateChannelAsync())
        {
            await setup.QueueDeclareAsync(queue, durable: false, exclusive: false, autoDelete: false);
        }

        // RabbitMQ checks exclusivity before equivalence, so a different exclusive flag is 405, not 406.
        await using var channel = await connection.CreateChannelAsync();
        await BrokerKit.RefusedAsync(
            () => channel.QueueDeclareAsync(queue, durable: false, exclusive: true, autoDelete: false),
            405,
            $"RESOURCE_LOCKED - cannot obtain exclusive access to locked queue '{queue}' in vhost '/'. It could be originally declared on another connection or the exclusive property value does not match that of the original declaration.");

        await using var cleanup = await connection.CreateChannelAsync();
        await cleanup.QueueDeleteAsync(queue);
    }

    [Fact]
    public async Task Declaring_a_queue_with_the_amq_prefix_is_403()
    {
        await using var broker = await InProcessBroker.StartAsync();
        await using var connection = await broker.Factory().CreateConnectionAsync();
        await using var channel = await connection.CreateChannelAsync();

        await BrokerKit.RefusedAsync(
            () => channel.QueueDeclareAsync("amq.conformance", durable: false, exclusive: false, autoDelete: false),
            403,
            "ACCESS_REFUSED - queue name 'amq.conformance' contains reserved prefix 'amq.*'");
    }

    public enum ExclusiveOperation
    {
        PassiveDeclare,
        Declare,
        Consume,
        Get,
        Purge,
        Delete,
        Bind,
    }

    [Theory]
    [InlineData(ExclusiveOperation.PassiveDeclare)]
    [InlineData(ExclusiveOperation.Declare)]
    [InlineData(ExclusiveOperation.Consume)]
    [InlineData(ExclusiveOperation.Get)]
    [InlineData(ExclusiveOperation.Purge)]
    [InlineData(ExclusiveOperation.Delete)]
    [InlineData(ExclusiveOperation.Bind)]
    public async Task An_exclusive_queue_is_405_resource_locked_to_another_connection(ExclusiveOperation operation)
    {
        await using var broker = await InProcessBroker.StartAsync();
        await using var owner = await broker.Factory().CreateConnectionAsync();
        await using var ownerChannel = await owner.CreateChannelAsync();

        // A short name keeps the long RESOURCE_LOCKED text under 255 bytes (ErrorTests covers the cut).
        var queue = "excl-" + Guid.NewGuid().ToString("N")[..12];
        await ownerChannel.QueueDeclareAsync(queue, durable: false, exclusive: true, autoDelete: false);

        await using var other = await broker.Factory().CreateConnectionAsync();
        await using var channel = await other.CreateChannelAsync();
        Func<Task> attempt = operation switch
        {
            ExclusiveOperation.PassiveDeclare => () => channel.QueueDeclarePassiveAsync(queue),
            ExclusiveOperation.Declare => () => channel.QueueDeclareAsync(queue, durable: false, exclusive: true, autoDelete: false),
            ExclusiveOperation.Consume => () => channel.BasicConsumeAsync(queue, autoAck: true, new ProbeConsumer(channel)),
            ExclusiveOperation.Get => () => channel.BasicGetAsync(queue, autoAck: true),
            ExclusiveOperation.Purge => () => channel.QueuePurgeAsync(queue),
            ExclusiveOperation.Delete => () => channel.QueueDeleteAsync(queue),
            ExclusiveOperation.Bind => () => channel.QueueBindAsync(queue, "amq.fanout", ""),
            _ => throw new ArgumentOutOfRangeException(nameof(operation)),
        };

        await BrokerKit.RefusedAsync(
            attempt,
            405,
            $"RESOURCE_LOCKED - cannot obtain exclusive access to locked queue '{queue}' in vhost '/'. It could be originally declared on another connection or the exclusive property value does not match that of the original declaration.");

        // Only the intruder's channel closed; the owner still has its queue.
        Assert.True(other.IsOpen);
        await ownerChannel.QueueDeclarePassiveAsync(queue);
    }

    [Fact]
    public async Task An_exclusive_queue_is_usable_from_every_channel_of_its_own_connection()
    {
        await using var broker = await InProcessBroker.StartAsync();
        await using var connection = await broker.Factory().CreateConnectionAsync();
        await using var declaring = await connection.CreateChannelAsync();
        var queue = BrokerKit.Unique("exclusive");
        await declaring.QueueDeclareAsync(queue, durable: false, exclusive: true, autoDelete: false);

        await using var another = await connection.CreateConfirmingChannelAsync();
        await another.PublishAsync("", queue, "same-connection");
        Assert.Equal(["same-connection"], await another.DrainAsync(queue));
    }

    [Fact]
    public async Task An_exclusive_queue_is_deleted_when_its_connection_closes()
    {
        await using var broker = await InProcessBroker.StartAsync();
        await using var observer = await broker.Factory().CreateConnectionAsync();
        var queue = BrokerKit.Unique("exclusive");
        await using (var owner = await broker.Factory().CreateConnectionAsync())
        {
            await using var channel = await owner.CreateConfirmingChannelAsync();
            await channel.QueueDeclareAsync(queue, durable: false, exclusive: true, autoDelete: false);
            await channel.PublishAsync("", queue, "lost-with-the-queue");
            await owner.CloseAsync();
        }

        await BrokerKit.EventuallyAsync(async () => !await observer.QueueExistsAsync(queue), "exclusive queue deleted");
        await BrokerKit.AssertUsableAsync(observer);
    }

    [Fact]
    public async Task An_auto_delete_queue_goes_when_its_last_consumer_cancels_but_not_before()
    {
        await using var broker = await InProcessBroker.StartAsync();
        await using var connection = await broker.Factory().CreateConnectionAsync();
        await using var channel = await connection.CreateChannelAsync();
        var queue = BrokerKit.Unique("auto-delete");
        await channel.QueueDeclareAsync(queue, durable: false, exclusive: false, autoDelete: true);

        // Never consumed from: stays.
        Assert.True(await connection.QueueExistsAsync(queue));

        var first = await channel.BasicConsumeAsync(queue, autoAck: true, new ProbeConsumer(channel));
        var second = await channel.BasicConsumeAsync(queue, autoAck: true, new ProbeConsumer(channel));
        await channel.BasicCancelAsync(first);
        Assert.True(await connection.QueueExistsAsync(queue));

        await channel.BasicCancelAsync(second);

        await BrokerKit.EventuallyAsync(async () => !await connection.QueueExistsAsync(queue), "auto-delete queue deleted");
    }

    [Fact]
    public async Task An_auto_delete_queue_goes_when_the_channel_of_its_last_consumer_closes()
    {
        await using var broker = await InProcessBroker.StartAsync();
        await using var connection = await broker.Factory().CreateConnectionAsync();
        var queue = BrokerKit.Unique("auto-delete");
        await using (var channel = await connection.CreateChannelAsync())
        {
            await channel.QueueDeclareAsync(queue, durable: false, exclusive: false, autoDelete: true);
            await channel.BasicConsumeAsync(queue, autoAck: false, new ProbeConsumer(channel));
            await channel.CloseAsync();
        }

        await BrokerKit.EventuallyAsync(async () => !await connection.QueueExistsAsync(queue), "auto-delete queue deleted");
    }

    [Fact]
    public async Task Purge_returns_the_ready_count_and_leaves_unacked_messages_alone()
    {
        await using var broker = await InProcessBroker.StartAsync();
        await using var connection = await broker.Factory().CreateConnectionAsync();
        await using var channel = await connection.CreateConfirmingChannelAsync();
        var queue = await channel.DeclareQueueAsync();
        for (int i = 0; i < 5; i++)
        {
            await channel.PublishAsync("", queue, "m" + i);
        }

        uint purgedEmpty;
        await using (var holding = await connection.CreateChannelAsync())
        {
            Assert.NotNull(await holding.BasicGetAsync(queue, autoAck: false));
            Assert.NotNull(await holding.BasicGetAsync(queue, autoAck: false));

            Assert.Equal(3u, await channel.QueuePurgeAsync(queue));
            purgedEmpty = await channel.QueuePurgeAsync(queue);
            await holding.CloseAsync();
        }

        Assert.Equal(0u, purgedEmpty);

        // The two unacked messages come back when their channel closes.
        var back = await channel.BasicGetAsync(queue, autoAck: true);
        Assert.NotNull(back);
        Assert.True(back.Redelivered);
        Assert.Equal("m0", BrokerKit.Text(back.Body));
        Assert.Equal(["m1"], await channel.DrainAsync(queue));
        await channel.QueueDeleteAsync(queue);
    }

    [Fact]
    public async Task Delete_returns_the_message_count()
    {
        await using var broker = await InProcessBroker.StartAsync();
        await using var connection = await broker.Factory().CreateConnectionAsync();
        await using var channel = await connection.CreateConfirmingChannelAsync();
        var queue = await channel.DeclareQueueAsync();
        for (int i = 0; i < 7; i++)
        {
            await channel.PublishAsync("", queue, "m" + i);
        }

        Assert.Equal(7u, await channel.QueueDeleteAsync(queue));
        Assert.False(await connection.QueueExistsAsync(queue));
    }

    [Fact]
    public async Task Deleting_a_missing_queue_is_ok_with_count_zero()
    {
        await using var broker = await InProcessBroker.StartAsync();
        await using var connection = await broker.Factory().CreateConnectionAsync();
        await using var channel = await connection.CreateChannelAsync();

        Assert.Equal(0u, await channel.QueueDeleteAsync(BrokerKit.Unique("never-declared")));
        Assert.True(channel.IsOpen);
    }

    [Fact]
    public async Task Delete_if_empty_on_a_queue_with_messages_is_406()
    {
        await using var broker = await InProcessBroker.StartAsync();
        await using var connection = await broker.Factory().CreateConnectionAsync();
        string queue;
        await using (var setup = await connection.CreateConfirmingChannelAsync())
        {
            queue = await setup.DeclareQueueAsync();
            await setup.PublishAsync("", queue, "keeps-it-non-empty");
        }

        await using (var channel = await connection.CreateChannelAsync())
        {
            await BrokerKit.RefusedAsync(() => channel.QueueDeleteAsync(queue, ifUnused: false, ifEmpty: true), 406, $"PRECONDITION_FAILED - queue '{queue}' in vhost '/' not empty");
        }

        Assert.Equal(1u, await connection.ReadyCountAsync(queue));
        await using var cleanup = await connection.CreateChannelAsync();
        Assert.Equal(1u, await cleanup.QueueDeleteAsync(queue));
    }

    [Fact]
    public async Task Delete_if_unused_on_a_queue_with_a_consumer_is_406()
    {
        await using var broker = await InProcessBroker.StartAsync();
        await using var connection = await broker.Factory().CreateConnectionAsync();
        await using var consuming = await connection.CreateChannelAsync();
        var queue = await consuming.DeclareQueueAsync();
        await consuming.BasicConsumeAsync(queue, autoAck: true, new ProbeConsumer(consuming));

        await using (var channel = await connection.CreateChannelAsync())
        {
            await BrokerKit.RefusedAsync(() => channel.QueueDeleteAsync(queue, ifUnused: true, ifEmpty: false), 406, $"PRECONDITION_FAILED - queue '{queue}' in vhost '/' in use");
        }

        Assert.True(await connection.QueueExistsAsync(queue));
        await consuming.CloseAsync();
        await using var cleanup = await connection.CreateChannelAsync();
        await cleanup.QueueDeleteAsync(queue, ifUnused: true, ifEmpty: true);
        Assert.False(await connection.QueueExistsAsync(queue));
    }

    [Fact]
    public async Task Deleting_a_queue_sends_basic_cancel_to_its_consumers_and_their_channels_stay_open()
    {
        await using var broker = await InProcessBroker.StartAsync();
        await using var connection = await broker.Factory().CreateConnectionAsync();
        await using var consuming = await connection.CreateChannelAsync();
        var queue = await consuming.DeclareQueueAsync();
        var consumer = new ProbeConsumer(consuming);
        var tag = await consuming.BasicConsumeAsync(queue, autoAck: false, consumer);

        await using (var deleting = await connection.CreateChannelAsync())
        {
            await deleting.QueueDeleteAsync(queue);
        }

        Assert.Equal(tag, await consumer.ServerCancelledAsync());
        Assert.False(consumer.IsCancelOk);
        Assert.True(consuming.IsOpen);
        var fresh = await consuming.DeclareQueueAsync();
        await consuming.QueueDeleteAsync(fresh);
    }
}
