using Holdfast.Conformance.Tests.Support;
using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;

namespace Holdfast.Conformance.Tests.Broker;

/// <summary>Channel errors: what is left of the channel, and that nothing else is harmed.</summary>
public sealed class ErrorTests
{
    [Fact]
    public async Task Every_operation_on_a_channel_closed_by_the_server_throws_AlreadyClosedException_with_the_reason()
    {
        await using var broker = await InProcessBroker.StartAsync();
        await using var connection = await broker.Factory().CreateConnectionAsync();
        await using var channel = await connection.CreateChannelAsync();
        var queue = BrokerKit.Unique("missing");
        await BrokerKit.RefusedAsync(() => channel.QueueDeclarePassiveAsync(queue), 404);

        Assert.False(channel.IsOpen);
        BrokerKit.AssertReason(channel.CloseReason, 404, $"NOT_FOUND - no queue '{queue}' in vhost '/'");
        var operations = new Func<Task>[]
        {
            () => channel.QueueDeclareAsync(BrokerKit.Unique("q"), durable: false, exclusive: false, autoDelete: false),
            () => channel.PublishAsync("", "anything", "late"),
            () => channel.BasicGetAsync("anything", autoAck: true),
            () => channel.BasicAckAsync(1, multiple: false).AsTask(),
            () => channel.ExchangeDeclareAsync(BrokerKit.Unique("x"), ExchangeType.Direct),
            () => channel.BasicQosAsync(0, 1, global: false),
        };
        foreach (var operation in operations)
        {
            var closed = await Assert.ThrowsAsync<AlreadyClosedException>(operation);
            BrokerKit.AssertReason(closed.ShutdownReason, 404);
        }

        Assert.True(connection.IsOpen);
    }

    [Fact]
    public async Task After_a_channel_error_the_connection_and_its_other_channels_keep_working()
    {
        await using var broker = await InProcessBroker.StartAsync();
        await using var connection = await broker.Factory().CreateConnectionAsync();
        await using var consuming = await connection.CreateChannelAsync();
        await using var publishing = await connection.CreateConfirmingChannelAsync();
        var queue = await consuming.DeclareQueueAsync();
        var consumer = new ProbeConsumer(consuming);
        await consuming.BasicConsumeAsync(queue, autoAck: false, consumer);
        await publishing.PublishAsync("", queue, "before");
        var before = await consumer.NextAsync();

        await using (var failing = await connection.CreateChannelAsync())
        {
            await BrokerKit.RefusedAsync(() => failing.ExchangeDeclarePassiveAsync(BrokerKit.Unique("missing")), 404);
        }

        await publishing.PublishAsync("", queue, "after");
        var after = await consumer.NextAsync();
        Assert.Equal(("before", "after"), (before.Text, after.Text));
        Assert.Equal(before.DeliveryTag + 1, after.DeliveryTag);
        await consuming.BasicAckAsync(after.DeliveryTag, multiple: true);
        Assert.True(consuming.IsOpen && publishing.IsOpen && connection.IsOpen);
        await BrokerKit.AssertUsableAsync(connection);
    }

    [Fact]
    public async Task Unacked_messages_of_a_channel_closed_by_an_error_are_requeued()
    {
        await using var broker = await InProcessBroker.StartAsync();
        await using var connection = await broker.Factory().CreateConnectionAsync();
        await using var setup = await connection.CreateConfirmingChannelAsync();
        var queue = await setup.DeclareQueueAsync();
        await setup.PublishAsync("", queue, "held");

        await using (var failing = await connection.CreateChannelAsync())
        {
            var held = await failing.BasicGetAsync(queue, autoAck: false);
            Assert.NotNull(held);
            await failing.BasicAckAsync(held.DeliveryTag + 100, multiple: false);
            await failing.ClosedByServerAsync(406, $"PRECONDITION_FAILED - unknown delivery tag {held.DeliveryTag + 100}");
        }

        var back = await setup.BasicGetAsync(queue, autoAck: true);
        Assert.NotNull(back);
        Assert.Equal("held", BrokerKit.Text(back.Body));
        Assert.True(back.Redelivered);
        await setup.QueueDeleteAsync(queue);
    }

    [Fact]
    public async Task Consumers_on_a_channel_closed_by_an_error_stop_and_other_consumers_take_over()
    {
        await using var broker = await InProcessBroker.StartAsync();
        await using var connection = await broker.Factory().CreateConnectionAsync();
        await using var publishing = await connection.CreateConfirmingChannelAsync();
        var queue = await publishing.DeclareQueueAsync();
        await using var doomed = await connection.CreateChannelAsync();
        await using var survivor = await connection.CreateChannelAsync();
        var doomedConsumer = new ProbeConsumer(doomed);
        var survivorConsumer = new ProbeConsumer(survivor);
        await doomed.BasicConsumeAsync(queue, autoAck: true, doomedConsumer);

        await doomed.BasicAckAsync(12345, multiple: false);
        await doomed.ClosedByServerAsync(406);
        await survivor.BasicConsumeAsync(queue, autoAck: true, survivorConsumer);
        for (int i = 0; i < 4; i++)
        {
            await publishing.PublishAsync("", queue, "m" + i);
        }

        Assert.Equal(["m0", "m1", "m2", "m3"], (await survivorConsumer.NextAsync(4)).Select(d => d.Text));
        Assert.Equal(0, doomedConsumer.Received);
        Assert.Equal(1u, await publishing.ConsumerCountAsync(queue));
    }

    [Fact]
    public async Task Many_channel_errors_in_a_row_leave_the_connection_open_and_channel_numbers_reusable()
    {
        await using var broker = await InProcessBroker.StartAsync();
        await using var connection = await broker.Factory().CreateConnectionAsync();

        for (int i = 0; i < 20; i++)
        {
            await using var channel = await connection.CreateChannelAsync();
            await BrokerKit.RefusedAsync(() => channel.QueueDeclarePassiveAsync(BrokerKit.Unique("missing")), 404);
        }

        Assert.True(connection.IsOpen);
        await BrokerKit.AssertUsableAsync(connection);
    }

    [Fact]
    public async Task A_channel_error_on_one_connection_does_not_touch_another_connection()
    {
        await using var broker = await InProcessBroker.StartAsync();
        await using var bystander = await broker.Factory().CreateConnectionAsync();
        await using var bystanderChannel = await bystander.CreateChannelAsync();
        var queue = await bystanderChannel.DeclareQueueAsync();
        var consumer = new ProbeConsumer(bystanderChannel);
        await bystanderChannel.BasicConsumeAsync(queue, autoAck: true, consumer);

        await using (var offender = await broker.Factory().CreateConnectionAsync())
        {
            await using var channel = await offender.CreateChannelAsync();
            await BrokerKit.RefusedAsync(() => channel.QueueDeleteAsync(queue, ifUnused: true, ifEmpty: false), 406);
            await using var publisher = await offender.CreateConfirmingChannelAsync();
            await publisher.PublishAsync("", queue, "from-the-offender");
        }

        Assert.Equal("from-the-offender", (await consumer.NextAsync()).Text);
        Assert.True(bystanderChannel.IsOpen);
    }

    [Fact]
    public async Task A_client_closed_channel_throws_AlreadyClosedException_with_the_client_reason()
    {
        await using var broker = await InProcessBroker.StartAsync();
        await using var connection = await broker.Factory().CreateConnectionAsync();
        await using var channel = await connection.CreateChannelAsync();
        await channel.DeclareQueueAsync();

        await channel.CloseAsync();

        var closed = await Assert.ThrowsAsync<AlreadyClosedException>(() => channel.BasicGetAsync("anything", autoAck: true));
        Assert.Equal(200, closed.ShutdownReason!.ReplyCode);
        Assert.Equal(ShutdownInitiator.Application, closed.ShutdownReason.Initiator);
        Assert.True(connection.IsOpen);
    }

    [Fact]
    public async Task A_reply_text_longer_than_255_bytes_is_cut_to_252_bytes_and_an_ellipsis()
    {
        await using var broker = await InProcessBroker.StartAsync();
        await using var connection = await broker.Factory().CreateConnectionAsync();
        await using var channel = await connection.CreateChannelAsync();
        var queue = BrokerKit.Unique("long") + new string('n', 200);

        var reason = await BrokerKit.RefusedAsync(() => channel.QueueDeclarePassiveAsync(queue), 404);

        var full = $"NOT_FOUND - no queue '{queue}' in vhost '/'";
        Assert.True(full.Length > 255);
        Assert.Equal(full[..252] + "...", reason.ReplyText);
        await BrokerKit.AssertUsableAsync(connection);
    }

    [Fact]
    public async Task A_reply_text_of_exactly_255_bytes_is_not_cut()
    {
        await using var broker = await InProcessBroker.StartAsync();
        await using var connection = await broker.Factory().CreateConnectionAsync();
        await using var channel = await connection.CreateChannelAsync();
        var unique = BrokerKit.Unique("edge");
        var queue = unique + new string('n', 219 - unique.Length); // "NOT_FOUND - no queue '" + 219 + "' in vhost '/'" = 255

        var reason = await BrokerKit.RefusedAsync(() => channel.QueueDeclarePassiveAsync(queue), 404);

        Assert.Equal($"NOT_FOUND - no queue '{queue}' in vhost '/'", reason.ReplyText);
        Assert.Equal(255, reason.ReplyText.Length);
    }
}
