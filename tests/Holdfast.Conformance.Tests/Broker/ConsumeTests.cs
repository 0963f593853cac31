using Holdfast.Amqp.Codec;
using Holdfast.Conformance.Tests.Support;
using RabbitMQ.Client;

namespace Holdfast.Conformance.Tests.Broker;

/// <summary>basic.consume / get / ack / nack / reject / qos / recover / cancel, as RabbitMQ does them.</summary>
public sealed class ConsumeTests
{
    private static async Task<string> QueueWithAsync(IConnection connection, int count, string prefix = "m")
    {
        await using var channel = await connection.CreateConfirmingChannelAsync();
        var queue = await channel.DeclareQueueAsync();
        for (int i = 0; i < count; i++)
        {
            await channel.PublishAsync("", queue, prefix + i);
        }

        await channel.CloseAsync();
        return queue;
    }

    private static IEnumerable<string> Bodies(int count, string prefix = "m") => Enumerable.Range(0, count).Select(i => prefix + i);

    [Fact]
    public async Task A_manual_ack_consumer_gets_messages_in_order_with_increasing_delivery_tags()
    {
        await using var broker = await InProcessBroker.StartAsync();
        await using var connection = await broker.Factory().CreateConnectionAsync();
        var queue = await QueueWithAsync(connection, 50);
        await using var channel = await connection.CreateChannelAsync();
        var consumer = new ProbeConsumer(channel);

        var tag = await channel.BasicConsumeAsync(queue, autoAck: false, consumer);
        var deliveries = await consumer.NextAsync(50);

        Assert.StartsWith("amq.ctag-", tag, StringComparison.Ordinal);
        Assert.Equal(Bodies(50), deliveries.Select(d => d.Text));
        Assert.Equal(Enumerable.Range(1, 50).Select(i => (ulong)i), deliveries.Select(d => d.DeliveryTag));
        Assert.All(deliveries, d =>
        {
            Assert.Equal(tag, d.ConsumerTag);
            Assert.False(d.Redelivered);
            Assert.Equal("", d.Exchange);
            Assert.Equal(queue, d.RoutingKey);
        });

        foreach (var delivery in deliveries)
        {
            await channel.BasicAckAsync(delivery.DeliveryTag, multiple: false);
        }

        await channel.CloseAsync();
        Assert.Equal(0u, await connection.ReadyCountAsync(queue));
    }

    [Fact]
    public async Task A_client_chosen_consumer_tag_is_used_in_consume_ok_and_deliveries()
    {
        await using var broker = await InProcessBroker.StartAsync();
        await using var connection = await broker.Factory().CreateConnectionAsync();
        var queue = await QueueWithAsync(connection, 1);
        await using var channel = await connection.CreateChannelAsync();
        var consumer = new ProbeConsumer(channel);

        var tag = await channel.BasicConsumeAsync(queue, autoAck: true, "my-chosen-tag", consumer);

        Assert.Equal("my-chosen-tag", tag);
        Assert.Equal("my-chosen-tag", (await consumer.NextAsync()).ConsumerTag);
    }

    [Fact]
    public async Task An_auto_ack_consumer_empties_the_queue_without_acks()
    {
        await using var broker = await InProcessBroker.StartAsync();
        await using var connection = await broker.Factory().CreateConnectionAsync();
        var queue = await QueueWithAsync(connection, 20);
        await using (var channel = await connection.CreateChannelAsync())
        {
            var consumer = new ProbeConsumer(channel);
            await channel.BasicConsumeAsync(queue, autoAck: true, consumer);
            Assert.Equal(Bodies(20), (await consumer.NextAsync(20)).Select(d => d.Text));

            // Closing the channel requeues nothing: auto-ack messages are settled on delivery.
            await channel.CloseAsync();
        }

        Assert.Equal(0u, await connection.ReadyCountAsync(queue));
    }

    [Fact]
    public async Task Consuming_from_a_missing_queue_is_404()
    {
        await using var broker = await InProcessBroker.StartAsync();
        await using var connection = await broker.Factory().CreateConnectionAsync();
        await using var channel = await connection.CreateChannelAsync();
        var queue = BrokerKit.Unique("missing");

        await BrokerKit.RefusedAsync(() => channel.BasicConsumeAsync(queue, autoAck: true, new ProbeConsumer(channel)), 404, $"NOT_FOUND - no queue '{queue}' in vhost '/'");
        await BrokerKit.AssertUsableAsync(connection);
    }

    [Fact]
    public async Task Reusing_a_consumer_tag_on_the_same_channel_is_530_not_allowed_and_closes_the_connection()
    {
        await using var broker = await InProcessBroker.StartAsync();
        await using var connection = await broker.Factory().CreateConnectionAsync();
        await using var channel = await connection.CreateChannelAsync();
        var queue = await channel.DeclareQueueAsync();
        var other = await channel.DeclareQueueAsync();
        await channel.BasicConsumeAsync(queue, autoAck: true, "duplicate", new ProbeConsumer(channel));

        // NOT_ALLOWED is a connection-level (hard) error in AMQP 0-9-1, and RabbitMQ closes the whole connection.
        await BrokerKit.RefusedAsync(() => channel.BasicConsumeAsync(other, autoAck: true, "duplicate", new ProbeConsumer(channel)), 530, "NOT_ALLOWED - attempt to reuse consumer tag 'duplicate'");
        await connection.ClosedByServerAsync(530, "NOT_ALLOWED - attempt to reuse consumer tag 'duplicate'");

        await using var cleanupConnection = await broker.Factory().CreateConnectionAsync();
        await using var cleanup = await cleanupConnection.CreateChannelAsync();
        await cleanup.QueueDeleteAsync(queue);
        await cleanup.QueueDeleteAsync(other);
    }

    [Fact]
    public async Task The_same_consumer_tag_on_two_channels_is_fine()
    {
        await using var broker = await InProcessBroker.StartAsync();
        await using var connection = await broker.Factory().CreateConnectionAsync();
        var queue = await QueueWithAsync(connection, 0);
        await using var first = await connection.CreateChannelAsync();
        await using var second = await connection.CreateChannelAsync();

        Assert.Equal("shared", await first.BasicConsumeAsync(queue, autoAck: true, "shared", new ProbeConsumer(first)));
        Assert.Equal("shared", await second.BasicConsumeAsync(queue, autoAck: true, "shared", new ProbeConsumer(second)));
        Assert.Equal(2u, await first.ConsumerCountAsync(queue));
    }

    [Fact]
    public async Task An_exclusive_consumer_refuses_a_second_consumer_with_403()
    {
        await using var broker = await InProcessBroker.StartAsync();
        await using var connection = await broker.Factory().CreateConnectionAsync();
        var queue = await QueueWithAsync(connection, 0);
        await using var owner = await connection.CreateChannelAsync();
        await owner.BasicConsumeAsync(queue, autoAck: true, "", noLocal: false, exclusive: true, arguments: null, new ProbeConsumer(owner));

        await using var channel = await connection.CreateChannelAsync();
        await BrokerKit.RefusedAsync(
            () => channel.BasicConsumeAsync(queue, autoAck: true, new ProbeConsumer(channel)),
            403,
            $"ACCESS_REFUSED - queue '{queue}' in vhost '/' in exclusive use");
        Assert.True(owner.IsOpen);
    }

    [Fact]
    public async Task An_exclusive_consume_on_a_queue_that_already_has_a_consumer_is_403()
    {
        await using var broker = await InProcessBroker.StartAsync();
        await using var connection = await broker.Factory().CreateConnectionAsync();
        var queue = await QueueWithAsync(connection, 0);
        await using var first = await connection.CreateChannelAsync();
        await first.BasicConsumeAsync(queue, autoAck: true, new ProbeConsumer(first));

        await using var channel = await connection.CreateChannelAsync();
        await BrokerKit.RefusedAsync(
            () => channel.BasicConsumeAsync(queue, autoAck: true, "", noLocal: false, exclusive: true, arguments: null, new ProbeConsumer(channel)),
            403,
            $"ACCESS_REFUSED - queue '{queue}' in vhost '/' in exclusive use");
    }

    [Fact]
    public async Task Basic_get_on_an_empty_queue_returns_nothing_and_counts_the_rest_otherwise()
    {
        await using var broker = await InProcessBroker.StartAsync();
        await using var connection = await broker.Factory().CreateConnectionAsync();
        var queue = await QueueWithAsync(connection, 2);
        await using var channel = await connection.CreateChannelAsync();

        var first = await channel.BasicGetAsync(queue, autoAck: false);
        var second = await channel.BasicGetAsync(queue, autoAck: false);
        var none = await channel.BasicGetAsync(queue, autoAck: false);

        Assert.NotNull(first);
        Assert.NotNull(second);
        Assert.Null(none);
        Assert.Equal((1u, 0u), (first.MessageCount, second.MessageCount));
        Assert.Equal((1ul, 2ul), (first.DeliveryTag, second.DeliveryTag));
        Assert.True(channel.IsOpen);
    }

    [Fact]
    public async Task Prefetch_10_with_100_ready_delivers_exactly_10_until_acks_free_room()
    {
        await using var broker = await InProcessBroker.StartAsync();
        await using var connection = await broker.Factory().CreateConnectionAsync();
        var queue = await QueueWithAsync(connection, 100);
        await using var channel = await connection.CreateChannelAsync();
        await channel.BasicQosAsync(0, 10, global: false);
        var consumer = new ProbeConsumer(channel);
        await channel.BasicConsumeAsync(queue, autoAck: false, consumer);

        var window = await consumer.NextAsync(10);

        // Ready count is exact: 90 still in the queue means nothing past the window left it. The short delay is only
        // there to give an over-delivering broker time to show itself; passing never depends on it.
        await Task.Delay(200);
        Assert.Equal(10, consumer.Received);
        Assert.Equal(90u, await connection.ReadyCountAsync(queue));

        await channel.BasicAckAsync(window[0].DeliveryTag, multiple: false);
        Assert.Equal("m10", (await consumer.NextAsync()).Text);
        await Task.Delay(200);
        Assert.Equal(11, consumer.Received);
        Assert.Equal(89u, await connection.ReadyCountAsync(queue));
    }

    [Fact]
    public async Task Ack_multiple_settles_everything_up_to_the_tag()
    {
        await using var broker = await InProcessBroker.StartAsync();
        await using var connection = await broker.Factory().CreateConnectionAsync();
        var queue = await QueueWithAsync(connection, 30);
        await using var channel = await connection.CreateChannelAsync();
        await channel.BasicQosAsync(0, 10, global: false);
        var consumer = new ProbeConsumer(channel);
        await channel.BasicConsumeAsync(queue, autoAck: false, consumer);

        var first = await consumer.NextAsync(10);
        await channel.BasicAckAsync(first[^1].DeliveryTag, multiple: true);
        var second = await consumer.NextAsync(10);
        Assert.Equal(Bodies(20).Skip(10), second.Select(d => d.Text));
        await channel.BasicAckAsync(second[4].DeliveryTag, multiple: true);
        var third = await consumer.NextAsync(5);
        Assert.Equal(Bodies(25).Skip(20), third.Select(d => d.Text));

        // Closing requeues only what was never acked: deliveries 16-25 of the second and third batches.
        await channel.CloseAsync();
        Assert.Equal(15u, await connection.ReadyCountAsync(queue));
    }

    [Fact]
    public async Task Nack_with_requeue_redelivers_with_the_redelivered_flag()
    {
        await using var broker = await InProcessBroker.StartAsync();
        await using var connection = await broker.Factory().CreateConnectionAsync();
        var queue = await QueueWithAsync(connection, 1);
        await using var channel = await connection.CreateChannelAsync();

        var first = await channel.BasicGetAsync(queue, autoAck: false);
        Assert.NotNull(first);
        Assert.False(first.Redelivered);
        await channel.BasicNackAsync(first.DeliveryTag, multiple: false, requeue: true);

        var again = await channel.BasicGetAsync(queue, autoAck: false);
        Assert.NotNull(again);
        Assert.True(again.Redelivered);
        Assert.Equal("m0", BrokerKit.Text(again.Body));
        Assert.NotEqual(first.DeliveryTag, again.DeliveryTag);
        await channel.BasicAckAsync(again.DeliveryTag, multiple: false);
        Assert.Null(await channel.BasicGetAsync(queue, autoAck: false));
    }

    [Fact]
    public async Task Nack_multiple_with_requeue_puts_messages_back_in_their_original_order()
    {
        await using var broker = await InProcessBroker.StartAsync();
        await using var connection = await broker.Factory().CreateConnectionAsync();
        var queue = await QueueWithAsync(connection, 5);
        await using var channel = await connection.CreateChannelAsync();
        var consumer = new ProbeConsumer(channel);
        await channel.BasicConsumeAsync(queue, autoAck: false, consumer);
        var firstRound = await consumer.NextAsync(5);
        Assert.All(firstRound, d => Assert.False(d.Redelivered));

        await channel.BasicNackAsync(firstRound[^1].DeliveryTag, multiple: true, requeue: true);

        var secondRound = await consumer.NextAsync(5);
        Assert.Equal(Bodies(5), secondRound.Select(d => d.Text));
        Assert.All(secondRound, d => Assert.True(d.Redelivered));
    }

    [Fact]
    public async Task Reject_without_requeue_discards_the_message()
    {
        await using var broker = await InProcessBroker.StartAsync();
        await using var connection = await broker.Factory().CreateConnectionAsync();
        var queue = await QueueWithAsync(connection, 2);
        await using var channel = await connection.CreateChannelAsync();

        var first = await channel.BasicGetAsync(queue, autoAck: false);
        Assert.NotNull(first);
        await channel.BasicRejectAsync(first.DeliveryTag, requeue: false);
        var second = await channel.BasicGetAsync(queue, autoAck: false);
        Assert.NotNull(second);
        await channel.BasicNackAsync(second.DeliveryTag, multiple: false, requeue: false);

        Assert.Null(await channel.BasicGetAsync(queue, autoAck: false));
        await channel.CloseAsync();
        Assert.Equal(0u, await connection.ReadyCountAsync(queue));
    }

    [Fact]
    public async Task Reject_with_requeue_redelivers()
    {
        await using var broker = await InProcessBroker.StartAsync();
        await using var connection = await broker.Factory().CreateConnectionAsync();
        var queue = await QueueWithAsync(connection, 1);
        await using var channel = await connection.CreateChannelAsync();

        var first = await channel.BasicGetAsync(queue, autoAck: false);
        Assert.NotNull(first);
        await channel.BasicRejectAsync(first.DeliveryTag, requeue: true);

        var again = await channel.BasicGetAsync(queue, autoAck: true);
        Assert.NotNull(again);
        Assert.True(again.Redelivered);
    }

    [Fact]
    public async Task Acking_an_unknown_delivery_tag_closes_the_channel_with_406()
    {
        await using var broker = await InProcessBroker.StartAsync();
        await using var connection = await broker.Factory().CreateConnectionAsync();
        await using var channel = await connection.CreateChannelAsync();

        await channel.BasicAckAsync(99, multiple: false);

        await channel.ClosedByServerAsync(406, "PRECONDITION_FAILED - unknown delivery tag 99");
        await BrokerKit.AssertUsableAsync(connection);
    }

    [Fact]
    public async Task Acking_the_same_delivery_twice_closes_the_channel_with_406()
    {
        await using var broker = await InProcessBroker.StartAsync();
        await using var connection = await broker.Factory().CreateConnectionAsync();
        var queue = await QueueWithAsync(connection, 1);
        await using var channel = await connection.CreateChannelAsync();
        var got = await channel.BasicGetAsync(queue, autoAck: false);
        Assert.NotNull(got);

        await channel.BasicAckAsync(got.DeliveryTag, multiple: false);
        await channel.BasicAckAsync(got.DeliveryTag, multiple: false);

        await channel.ClosedByServerAsync(406, $"PRECONDITION_FAILED - unknown delivery tag {got.DeliveryTag}");

        // The first ack counted: the message does not come back with the channel's close.
        Assert.Equal(0u, await connection.ReadyCountAsync(queue));
    }

    [Fact]
    public async Task Acking_an_auto_acked_delivery_closes_the_channel_with_406()
    {
        await using var broker = await InProcessBroker.StartAsync();
        await using var connection = await broker.Factory().CreateConnectionAsync();
        var queue = await QueueWithAsync(connection, 1);
        await using var channel = await connection.CreateChannelAsync();
        var got = await channel.BasicGetAsync(queue, autoAck: true);
        Assert.NotNull(got);

        await channel.BasicAckAsync(got.DeliveryTag, multiple: false);

        await channel.ClosedByServerAsync(406, $"PRECONDITION_FAILED - unknown delivery tag {got.DeliveryTag}");
    }

    [Fact]
    public async Task Closing_a_channel_requeues_its_unacked_messages_in_order_marked_redelivered()
    {
        await using var broker = await InProcessBroker.StartAsync();
        await using var connection = await broker.Factory().CreateConnectionAsync();
        var queue = await QueueWithAsync(connection, 10);
        await using (var first = await connection.CreateChannelAsync())
        {
            var consumer = new ProbeConsumer(first);
            await first.BasicConsumeAsync(queue, autoAck: false, consumer);
            var deliveries = await consumer.NextAsync(10);

            // Ack two in the middle; the other eight go back.
            await first.BasicAckAsync(deliveries[3].DeliveryTag, multiple: false);
            await first.BasicAckAsync(deliveries[6].DeliveryTag, multiple: false);
            await first.CloseAsync();
        }

        await using var second = await connection.CreateChannelAsync();
        var next = new ProbeConsumer(second);
        await second.BasicConsumeAsync(queue, autoAck: false, next);
        var redelivered = await next.NextAsync(8);

        Assert.Equal(["m0", "m1", "m2", "m4", "m5", "m7", "m8", "m9"], redelivered.Select(d => d.Text));
        Assert.All(redelivered, d => Assert.True(d.Redelivered));
    }

    [Fact]
    public async Task Closing_the_connection_requeues_unacked_messages_for_another_consumer()
    {
        await using var broker = await InProcessBroker.StartAsync();
        await using var observer = await broker.Factory().CreateConnectionAsync();
        var queue = await QueueWithAsync(observer, 3);
        await using (var connection = await broker.Factory().CreateConnectionAsync())
        {
            await using var channel = await connection.CreateChannelAsync();
            var consumer = new ProbeConsumer(channel);
            await channel.BasicConsumeAsync(queue, autoAck: false, consumer);
            await consumer.NextAsync(3);
            await connection.CloseAsync();
        }

        await using var other = await observer.CreateChannelAsync();
        var next = new ProbeConsumer(other);
        await other.BasicConsumeAsync(queue, autoAck: true, next);
        Assert.Equal(Bodies(3), (await next.NextAsync(3)).Select(d => d.Text));
    }

    [Fact]
    public async Task Basic_recover_with_requeue_redelivers_unacked_messages()
    {
        // RabbitMQ.Client 7 has no basic.recover, so the consuming side is a raw socket.
        await using var broker = await InProcessBroker.StartAsync();
        await using var connection = await broker.Factory().CreateConnectionAsync();
        var queue = await QueueWithAsync(connection, 3);
        await using var raw = await RawChannel.OpenAsync(broker);
        await raw.Socket.SendMethodAsync(RawChannel.Number, new BasicConsume(0, queue, "raw-consumer", NoLocal: false, NoAck: false, Exclusive: false, Nowait: false, FieldTable.Empty));
        await raw.ExpectAsync(AmqpMethodId.BasicConsumeOk);
        for (int i = 0; i < 3; i++)
        {
            var (deliver, body) = await raw.ReadDeliveryAsync();
            Assert.Equal("m" + i, BrokerKit.Text(body));
            Assert.False(deliver.Redelivered);
            Assert.Equal((ulong)(i + 1), deliver.DeliveryTag);
        }

        await raw.Socket.SendMethodAsync(RawChannel.Number, new BasicAck(1, Multiple: false));
        await raw.Socket.SendMethodAsync(RawChannel.Number, new BasicRecover(Requeue: true));

        // The two unacked come back (to the same consumer, as it is the only one) with new tags and redelivered set.
        // RabbitMQ sends recover-ok before the redeliveries (its channel replies before it handles the requeued
        // deliveries); AMQP does not order them and clients do not care, so either order is accepted here.
        var redelivered = new List<(BasicDeliver Deliver, byte[] Body)>();
        bool recoverOk = false;
        while (!recoverOk || redelivered.Count < 2)
        {
            var frame = await raw.NextMethodAsync();
            if (frame.MethodId == AmqpMethodId.BasicRecoverOk && !recoverOk)
            {
                recoverOk = true;
                continue;
            }

            Assert.Equal(AmqpMethodInfo.Name(AmqpMethodId.BasicDeliver), AmqpMethodInfo.Name(frame.MethodId));
            Assert.True(BasicDeliver.TryDecodeArguments(frame.Arguments, out var deliver, out var error), error.ToString());
            redelivered.Add((deliver, (await raw.ReadContentOfAsync(frame)).Body));
        }

        Assert.Equal(["m1", "m2"], redelivered.Select(r => BrokerKit.Text(r.Body)));
        Assert.All(redelivered, r => Assert.True(r.Deliver.Redelivered));
        Assert.Equal([4ul, 5ul], redelivered.Select(r => r.Deliver.DeliveryTag));
        await raw.CloseAsync();
    }

    [Fact]
    public async Task Basic_cancel_stops_deliveries_and_keeps_the_channel_open()
    {
        await using var broker = await InProcessBroker.StartAsync();
        await using var connection = await broker.Factory().CreateConnectionAsync();
        var queue = await QueueWithAsync(connection, 1);
        await using var channel = await connection.CreateConfirmingChannelAsync();
        var consumer = new ProbeConsumer(channel);
        var tag = await channel.BasicConsumeAsync(queue, autoAck: false, consumer);
        var first = await consumer.NextAsync();

        await channel.BasicCancelAsync(tag);
        Assert.Equal(tag, await consumer.CancelOkAsync());
        Assert.False(consumer.IsServerCancelled);
        await channel.PublishAsync("", queue, "after-cancel");

        Assert.Equal(0u, await channel.ConsumerCountAsync(queue));
        Assert.Equal(1u, await channel.MessageCountAsync(queue));
        Assert.Equal(1, consumer.Received);

        // A message delivered before the cancel can still be acked on the same channel.
        await channel.BasicAckAsync(first.DeliveryTag, multiple: false);
        Assert.Equal(["after-cancel"], await channel.DrainAsync(queue));
        Assert.True(channel.IsOpen);
    }

    [Fact]
    public async Task Cancelling_an_unknown_consumer_tag_is_ok()
    {
        await using var broker = await InProcessBroker.StartAsync();
        await using var connection = await broker.Factory().CreateConnectionAsync();
        await using var raw = await RawChannel.OpenAsync(broker);

        // The .NET client refuses to cancel a tag it does not know, so this goes raw: RabbitMQ answers cancel-ok.
        await raw.Socket.SendMethodAsync(RawChannel.Number, new BasicCancel("never-consumed", Nowait: false));
        var ok = await raw.ExpectAsync(AmqpMethodId.BasicCancelOk);
        Assert.True(BasicCancelOk.TryDecodeArguments(ok.Arguments, out var cancelOk, out _));
        Assert.Equal("never-consumed", cancelOk.ConsumerTag.ToString());
        await raw.CloseAsync();
    }

    [Fact]
    public async Task Per_consumer_qos_limits_each_consumer_separately()
    {
        await using var broker = await InProcessBroker.StartAsync();
        await using var connection = await broker.Factory().CreateConnectionAsync();
        var queue = await QueueWithAsync(connection, 20);
        await using var channel = await connection.CreateChannelAsync();

        // RabbitMQ: global=false applies to each consumer created afterwards on the channel.
        await channel.BasicQosAsync(0, 2, global: false);
        var one = new ProbeConsumer(channel);
        var two = new ProbeConsumer(channel);
        await channel.BasicConsumeAsync(queue, autoAck: false, one);
        await channel.BasicConsumeAsync(queue, autoAck: false, two);
        await one.NextAsync(2);
        await two.NextAsync(2);

        await Task.Delay(200);
        Assert.Equal((2, 2), (one.Received, two.Received));
        Assert.Equal(16u, await connection.ReadyCountAsync(queue));
    }

    [Fact]
    public async Task Global_qos_limits_all_consumers_of_the_channel_together()
    {
        await using var broker = await InProcessBroker.StartAsync();
        await using var connection = await broker.Factory().CreateConnectionAsync();
        var queue = await QueueWithAsync(connection, 20);
        await using var channel = await connection.CreateChannelAsync();

        // RabbitMQ: global=true is a channel-wide limit shared by every consumer on the channel.
        await channel.BasicQosAsync(0, 3, global: true);
        var one = new ProbeConsumer(channel);
        var two = new ProbeConsumer(channel);
        await channel.BasicConsumeAsync(queue, autoAck: false, one);
        await channel.BasicConsumeAsync(queue, autoAck: false, two);
        await BrokerKit.EventuallyAsync(() => Task.FromResult(one.Received + two.Received >= 3), "three deliveries");

        await Task.Delay(200);
        Assert.Equal(3, one.Received + two.Received);
        Assert.Equal(17u, await connection.ReadyCountAsync(queue));
    }

    [Fact]
    public async Task Qos_does_not_limit_basic_get_or_auto_ack_consumers()
    {
        await using var broker = await InProcessBroker.StartAsync();
        await using var connection = await broker.Factory().CreateConnectionAsync();
        var queue = await QueueWithAsync(connection, 10);
        await using var channel = await connection.CreateChannelAsync();
        await channel.BasicQosAsync(0, 1, global: false);

        Assert.NotNull(await channel.BasicGetAsync(queue, autoAck: false));
        Assert.NotNull(await channel.BasicGetAsync(queue, autoAck: false));

        var consumer = new ProbeConsumer(channel);
        await channel.BasicConsumeAsync(queue, autoAck: true, consumer);
        Assert.Equal(Bodies(10).Skip(2), (await consumer.NextAsync(8)).Select(d => d.Text));
    }

    [Fact]
    public async Task Two_consumers_on_one_queue_share_its_messages_round_robin()
    {
        await using var broker = await InProcessBroker.StartAsync();
        await using var connection = await broker.Factory().CreateConnectionAsync();
        await using var setup = await connection.CreateChannelAsync();
        var queue = await setup.DeclareQueueAsync();
        await using var channel = await connection.CreateChannelAsync();
        var one = new ProbeConsumer(channel);
        var two = new ProbeConsumer(channel);
        await channel.BasicConsumeAsync(queue, autoAck: true, one);
        await channel.BasicConsumeAsync(queue, autoAck: true, two);

        await using var publisher = await connection.CreateConfirmingChannelAsync();
        for (int i = 0; i < 10; i++)
        {
            await publisher.PublishAsync("", queue, "m" + i);
        }

        await BrokerKit.EventuallyAsync(() => Task.FromResult(one.Received + two.Received == 10), "ten deliveries");
        Assert.Equal((5, 5), (one.Received, two.Received));
    }

    [Fact]
    public async Task A_prefetch_size_limits_unacked_bytes_per_consumer()
    {
        await using var broker = await InProcessBroker.StartAsync();
        await using var connection = await broker.Factory().CreateConnectionAsync();
        if (BrokerKit.IsRabbitMq(connection))
        {
            // RabbitMQ refuses a byte limit outright; Holdfast implements it (its issue asks for count and size).
            await using var refused = await connection.CreateChannelAsync();
            await BrokerKit.RefusedAsync(() => refused.BasicQosAsync(4096, 10, global: false), 540, "NOT_IMPLEMENTED - prefetch_size!=0 (4096)");
            await connection.ClosedByServerAsync(540);
            return;
        }

        var queue = BrokerKit.Unique("bytes");
        await using var channel = await connection.CreateChannelAsync();
        await channel.QueueDeclareAsync(queue, durable: false, exclusive: false, autoDelete: false);
        for (var i = 0; i < 5; i++)
        {
            await channel.BasicPublishAsync(string.Empty, queue, new byte[1000]);
        }

        // Room while fewer than 2500 bytes are unacked: 0, 1000 and 2000 bytes out let a message go; 3000 does not.
        await channel.BasicQosAsync(2500, 0, global: false);
        var consumer = new ProbeConsumer(channel);
        await channel.BasicConsumeAsync(queue, autoAck: false, consumer);
        var window = await consumer.NextAsync(3);
        await Task.Delay(200);
        Assert.Equal(3, consumer.Received);
        Assert.Equal(2u, await connection.ReadyCountAsync(queue));

        await channel.BasicAckAsync(window[0].DeliveryTag, multiple: false);
        await consumer.NextAsync();
        await Task.Delay(200);
        Assert.Equal(4, consumer.Received);
        await channel.QueueDeleteAsync(queue);
    }
}
