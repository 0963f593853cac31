using Holdfast.Amqp.Codec;
using Holdfast.Conformance.Tests.Support;
using RabbitMQ.Client;

namespace Holdfast.Conformance.Tests.Broker;

/// <summary>tx.select / commit / rollback, as RabbitMQ does them.</summary>
public sealed class TransactionTests
{
    [Fact]
    public async Task Publishes_in_a_transaction_are_invisible_until_commit()
    {
        await using var broker = await InProcessBroker.StartAsync();
        await using var connection = await broker.Factory().CreateConnectionAsync();
        await using var channel = await connection.CreateChannelAsync();
        var queue = await channel.DeclareQueueAsync();
        await channel.TxSelectAsync();

        await channel.PublishAsync("", queue, "t1");
        await channel.PublishAsync("", queue, "t2");
        Assert.Equal(0u, await connection.ReadyCountAsync(queue));

        await channel.TxCommitAsync();

        Assert.Equal(2u, await connection.ReadyCountAsync(queue));
        await using var reader = await connection.CreateChannelAsync();
        Assert.Equal(["t1", "t2"], await reader.DrainAsync(queue));
        await reader.QueueDeleteAsync(queue);
    }

    [Fact]
    public async Task Rollback_discards_publishes_and_the_channel_stays_transactional()
    {
        await using var broker = await InProcessBroker.StartAsync();
        await using var connection = await broker.Factory().CreateConnectionAsync();
        await using var channel = await connection.CreateChannelAsync();
        var queue = await channel.DeclareQueueAsync();
        await channel.TxSelectAsync();

        await channel.PublishAsync("", queue, "rolled-back");
        await channel.TxRollbackAsync();
        Assert.Equal(0u, await connection.ReadyCountAsync(queue));

        // Still in tx mode after a rollback (and a commit): the next publish waits for the next commit.
        await channel.PublishAsync("", queue, "kept");
        Assert.Equal(0u, await connection.ReadyCountAsync(queue));
        await channel.TxCommitAsync();
        await channel.PublishAsync("", queue, "pending");
        Assert.Equal(1u, await connection.ReadyCountAsync(queue));
        await channel.TxCommitAsync();

        await using var reader = await connection.CreateChannelAsync();
        Assert.Equal(["kept", "pending"], await reader.DrainAsync(queue));
        await reader.QueueDeleteAsync(queue);
    }

    [Fact]
    public async Task Acks_in_a_transaction_take_effect_on_commit_and_are_dropped_by_rollback()
    {
        await using var broker = await InProcessBroker.StartAsync();
        await using var connection = await broker.Factory().CreateConnectionAsync();
        string queue;
        await using (var setup = await connection.CreateConfirmingChannelAsync())
        {
            queue = await setup.DeclareQueueAsync();
            await setup.PublishAsync("", queue, "m0");
            await setup.PublishAsync("", queue, "m1");
        }

        await using (var channel = await connection.CreateChannelAsync())
        {
            await channel.TxSelectAsync();
            var m0 = await channel.BasicGetAsync(queue, autoAck: false);
            var m1 = await channel.BasicGetAsync(queue, autoAck: false);
            Assert.NotNull(m0);
            Assert.NotNull(m1);

            // A rolled-back ack is forgotten: m0 stays unacked on the channel (not requeued by the rollback).
            await channel.BasicAckAsync(m0.DeliveryTag, multiple: false);
            await channel.TxRollbackAsync();
            Assert.Equal(0u, await connection.ReadyCountAsync(queue));

            await channel.BasicAckAsync(m1.DeliveryTag, multiple: false);
            await channel.TxCommitAsync();
            await channel.CloseAsync();
        }

        // Closing requeued only m0; m1's committed ack stuck.
        await using var reader = await connection.CreateChannelAsync();
        var back = await reader.BasicGetAsync(queue, autoAck: true);
        Assert.NotNull(back);
        Assert.Equal("m0", BrokerKit.Text(back.Body));
        Assert.True(back.Redelivered);
        Assert.Null(await reader.BasicGetAsync(queue, autoAck: true));
        await reader.QueueDeleteAsync(queue);
    }

    [Fact]
    public async Task An_uncommitted_ack_is_void_when_the_channel_closes()
    {
        await using var broker = await InProcessBroker.StartAsync();
        await using var connection = await broker.Factory().CreateConnectionAsync();
        string queue;
        await using (var setup = await connection.CreateConfirmingChannelAsync())
        {
            queue = await setup.DeclareQueueAsync();
            await setup.PublishAsync("", queue, "m0");
        }

        await using (var channel = await connection.CreateChannelAsync())
        {
            await channel.TxSelectAsync();
            var m0 = await channel.BasicGetAsync(queue, autoAck: false);
            Assert.NotNull(m0);
            await channel.BasicAckAsync(m0.DeliveryTag, multiple: false);
            await channel.CloseAsync();
        }

        Assert.Equal(1u, await connection.ReadyCountAsync(queue));
    }

    [Fact]
    public async Task A_mandatory_unroutable_publish_in_a_transaction_is_returned_at_commit()
    {
        await using var broker = await InProcessBroker.StartAsync();
        await using var connection = await broker.Factory().CreateConnectionAsync();
        await using var channel = await connection.CreateChannelAsync();
        var returned = new TaskCompletionSource<ushort>(TaskCreationOptions.RunContinuationsAsynchronously);
        channel.BasicReturnAsync += (_, args) =>
        {
            returned.TrySetResult(args.ReplyCode);
            return Task.CompletedTask;
        };
        await channel.TxSelectAsync();

        await channel.PublishAsync("", BrokerKit.Unique("nobody"), "bounces-at-commit", mandatory: true);

        // A return sent before the round trip's reply would already have been dispatched (the client handles frames
        // in order). Routing waits for the commit, so there is none yet.
        await RoundTripAsync(channel);
        Assert.False(returned.Task.IsCompleted, "returned before tx.commit");
        await channel.TxCommitAsync();

        Assert.Equal(312, await returned.Task.WaitAsync(BrokerKit.Wait));
    }

    [Fact]
    public async Task A_transactions_publishes_are_routed_at_publish_so_an_exchange_deleted_before_the_commit_changes_nothing()
    {
        await using var broker = await InProcessBroker.StartAsync();
        await using var connection = await broker.Factory().CreateConnectionAsync();
        await using var admin = await connection.CreateChannelAsync();
        var queue = await admin.DeclareQueueAsync();
        var exchange = BrokerKit.Unique("goes-away");
        await admin.ExchangeDeclareAsync(exchange, ExchangeType.Direct);
        await admin.QueueBindAsync(queue, exchange, "key");

        await using var channel = await connection.CreateChannelAsync();
        var returned = new TaskCompletionSource<ushort>(TaskCreationOptions.RunContinuationsAsynchronously);
        channel.BasicReturnAsync += (_, args) =>
        {
            returned.TrySetResult(args.ReplyCode);
            return Task.CompletedTask;
        };
        await channel.TxSelectAsync();
        await channel.PublishAsync("", queue, "before");
        await channel.PublishAsync(exchange, "key", "through-the-exchange", mandatory: true);
        await channel.PublishAsync("", queue, "after");

        await admin.ExchangeDeleteAsync(exchange);

        // As RabbitMQ: the message was routed at its basic.publish and reaches its queue at commit, exchange or not;
        // the commit is whole and nothing comes back.
        await channel.TxCommitAsync();
        Assert.Equal(["before", "through-the-exchange", "after"], await admin.DrainAsync(queue));
        Assert.False(returned.Task.IsCompleted, "a routed message was returned");
        Assert.True(channel.IsOpen);
    }

    [Fact]
    public async Task A_queue_bound_after_the_publish_does_not_get_it_at_commit_and_a_queue_deleted_before_it_is_skipped()
    {
        await using var broker = await InProcessBroker.StartAsync();
        await using var connection = await broker.Factory().CreateConnectionAsync();
        await using var admin = await connection.CreateChannelAsync();
        var exchange = BrokerKit.Unique("fan");
        await admin.ExchangeDeclareAsync(exchange, ExchangeType.Fanout);
        var early = await admin.DeclareQueueAsync("early");
        var doomed = await admin.DeclareQueueAsync("doomed");
        await admin.QueueBindAsync(early, exchange, "");
        await admin.QueueBindAsync(doomed, exchange, "");

        await using var channel = await connection.CreateChannelAsync();
        await channel.TxSelectAsync();
        await channel.PublishAsync(exchange, "", "fanned");

        var late = await admin.DeclareQueueAsync("late");
        await admin.QueueBindAsync(late, exchange, "");
        await admin.QueueDeleteAsync(doomed);

        await channel.TxCommitAsync();
        Assert.Equal(["fanned"], await admin.DrainAsync(early));
        Assert.Empty(await admin.DrainAsync(late));
        Assert.True(channel.IsOpen);
    }

    [Fact]
    public async Task Publishing_to_an_internal_exchange_in_a_transaction_is_403_at_the_publish_not_half_way_through_the_commit()
    {
        await using var broker = await InProcessBroker.StartAsync();
        var inner = BrokerKit.Unique("x-internal");
        await RawChannel.DeclareInternalExchangeAsync(broker, inner, ExchangeType.Fanout);
        await using var connection = await broker.Factory().CreateConnectionAsync();
        await using var admin = await connection.CreateChannelAsync();
        var queue = await admin.DeclareQueueAsync();

        await using var channel = await connection.CreateChannelAsync();
        await channel.TxSelectAsync();
        await channel.PublishAsync("", queue, "before");
        await channel.PublishAsync(inner, "", "to-internal");

        // As RabbitMQ: refused at basic.publish, so the transaction never commits and nothing of it is published.
        await channel.ClosedByServerAsync(403, $"ACCESS_REFUSED - cannot publish to internal exchange '{inner}' in vhost '/'");
        Assert.Empty(await admin.DrainAsync(queue));
    }

    [Fact]
    public async Task An_ack_in_a_transaction_makes_room_in_the_prefetch_window_at_commit()
    {
        await using var broker = await InProcessBroker.StartAsync();
        await using var connection = await broker.Factory().CreateConnectionAsync();
        await using var held = await PrefetchOneHoldingFirst.StartAsync(connection);
        Assert.Equal("m1", held.First.Text);

        await held.Channel.BasicAckAsync(held.First.DeliveryTag, multiple: false);

        // A new message arriving offers the queue's messages to its consumers: the window is still full until commit.
        await held.Setup.PublishAsync("", held.Queue, "m3");
        await RoundTripAsync(held.Channel);
        Assert.Equal(1, held.Consumer.Received);

        await held.Channel.TxCommitAsync();
        Assert.Equal("m2", (await held.Consumer.NextAsync()).Text);
    }

    [Fact]
    public async Task A_rolled_back_ack_keeps_the_prefetch_window_full()
    {
        await using var broker = await InProcessBroker.StartAsync();
        await using var connection = await broker.Factory().CreateConnectionAsync();
        await using var held = await PrefetchOneHoldingFirst.StartAsync(connection);

        await held.Channel.BasicAckAsync(held.First.DeliveryTag, multiple: false);
        await held.Setup.PublishAsync("", held.Queue, "m3");
        await held.Channel.TxRollbackAsync();

        // m1 is unacked again and fills the window of one: nothing more came, nor comes, and the queue still holds m2
        // and m3 (a window opened at the ack would have taken m2 and, after the rollback, held two).
        await RoundTripAsync(held.Channel);
        Assert.Equal(1, held.Consumer.Received);
        Assert.Equal(2u, await connection.ReadyCountAsync(held.Queue));

        await held.Channel.BasicAckAsync(held.First.DeliveryTag, multiple: false);
        await held.Channel.TxCommitAsync();
        Assert.Equal("m2", (await held.Consumer.NextAsync()).Text);
    }

    [Fact]
    public async Task Commit_without_select_is_406()
    {
        await using var broker = await InProcessBroker.StartAsync();
        await using var connection = await broker.Factory().CreateConnectionAsync();
        await using var channel = await connection.CreateChannelAsync();

        await BrokerKit.RefusedAsync(() => channel.TxCommitAsync(), 406, "PRECONDITION_FAILED - channel is not transactional");
        await BrokerKit.AssertUsableAsync(connection);
    }

    [Fact]
    public async Task Rollback_without_select_is_406()
    {
        await using var broker = await InProcessBroker.StartAsync();
        await using var connection = await broker.Factory().CreateConnectionAsync();
        await using var channel = await connection.CreateChannelAsync();

        await BrokerKit.RefusedAsync(() => channel.TxRollbackAsync(), 406, "PRECONDITION_FAILED - channel is not transactional");
    }

    [Fact]
    public async Task Select_twice_is_fine()
    {
        await using var broker = await InProcessBroker.StartAsync();
        await using var connection = await broker.Factory().CreateConnectionAsync();
        await using var channel = await connection.CreateChannelAsync();

        await channel.TxSelectAsync();
        await channel.TxSelectAsync();
        await channel.TxCommitAsync();

        Assert.True(channel.IsOpen);
    }

    [Fact]
    public async Task Tx_select_on_a_confirm_channel_is_406()
    {
        await using var broker = await InProcessBroker.StartAsync();
        await using var connection = await broker.Factory().CreateConnectionAsync();
        await using var channel = await connection.CreateConfirmingChannelAsync();

        await BrokerKit.RefusedAsync(() => channel.TxSelectAsync(), 406, "PRECONDITION_FAILED - cannot switch from confirm to tx mode");
    }

    [Fact]
    public async Task Confirm_select_on_a_transactional_channel_is_406()
    {
        // RabbitMQ.Client 7 only enables confirms when creating a channel, so this goes raw.
        await using var broker = await InProcessBroker.StartAsync();
        await using var raw = await RawChannel.OpenAsync(broker);
        await raw.Socket.SendMethodAsync(RawChannel.Number, new TxSelect());
        await raw.ExpectAsync(AmqpMethodId.TxSelectOk);

        await raw.Socket.SendMethodAsync(RawChannel.Number, new ConfirmSelect(Nowait: false));

        var frame = await raw.ExpectAsync(AmqpMethodId.ChannelClose);
        Assert.True(ChannelClose.TryDecodeArguments(frame.Arguments, out var close, out _));
        Assert.Equal(406, close.ReplyCode);
        Assert.Equal("PRECONDITION_FAILED - cannot switch from tx to confirm mode", close.ReplyText.ToString());
        await raw.Socket.SendMethodAsync(RawChannel.Number, new ChannelCloseOk());
        await raw.CloseAsync();
    }

    /// <summary>
    /// A synchronous round trip on the channel: anything the broker sent on it before the reply (a delivery, a
    /// return) has been dispatched by the client, which handles frames in order, once this returns.
    /// </summary>
    private static async Task RoundTripAsync(IChannel channel) =>
        await channel.QueueDeclareAsync("", durable: false, exclusive: true, autoDelete: true);

    /// <summary>
    /// A transactional channel consuming with prefetch 1 from a queue of m1 and m2: m1 has been delivered and is
    /// unacked (<see cref="First"/>), m2 waits behind it. <see cref="Setup"/> is a confirming channel for more publishes.
    /// </summary>
    private sealed record PrefetchOneHoldingFirst(IChannel Setup, string Queue, IChannel Channel, ProbeConsumer Consumer, Delivery First) : IAsyncDisposable
    {
        public static async Task<PrefetchOneHoldingFirst> StartAsync(IConnection connection)
        {
            var setup = await connection.CreateConfirmingChannelAsync();
            var queue = await setup.DeclareQueueAsync();
            await setup.PublishAsync("", queue, "m1");
            await setup.PublishAsync("", queue, "m2");

            var channel = await connection.CreateChannelAsync();
            await channel.BasicQosAsync(0, 1, global: false);
            await channel.TxSelectAsync();
            var consumer = new ProbeConsumer(channel);
            await channel.BasicConsumeAsync(queue, autoAck: false, consumer);
            return new PrefetchOneHoldingFirst(setup, queue, channel, consumer, await consumer.NextAsync());
        }

        public async ValueTask DisposeAsync()
        {
            await Channel.DisposeAsync();
            await Setup.DisposeAsync();
        }
    }
}
