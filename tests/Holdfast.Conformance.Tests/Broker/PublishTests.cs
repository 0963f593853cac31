using System.Collections.Concurrent;
using Holdfast.Conformance.Tests.Support;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;
using RabbitMQ.Client.Exceptions;

namespace Holdfast.Conformance.Tests.Broker;

/// <summary>basic.publish: mandatory returns, publisher confirms, large bodies, many channels.</summary>
public sealed class PublishTests
{
    [Fact]
    public async Task A_mandatory_unroutable_message_comes_back_as_basic_return_312_with_properties_headers_and_body_intact()
    {
        await using var broker = await InProcessBroker.StartAsync();
        await using var connection = await broker.Factory().CreateConnectionAsync();
        await using var channel = await connection.CreateChannelAsync();
        var exchange = BrokerKit.Unique("x");
        await channel.ExchangeDeclareAsync(exchange, ExchangeType.Direct);
        var returned = new TaskCompletionSource<(ushort Code, string Text, string Exchange, string RoutingKey, string Properties, byte[] Body)>(TaskCreationOptions.RunContinuationsAsynchronously);
        channel.BasicReturnAsync += (_, args) =>
        {
            returned.TrySetResult((args.ReplyCode, args.ReplyText, args.Exchange, args.RoutingKey, MessageShape.Render(args.BasicProperties), args.Body.ToArray()));
            return Task.CompletedTask;
        };
        var properties = MessageShape.FullProperties();
        var body = MessageShape.Body();

        await channel.BasicPublishAsync(exchange, "nowhere", mandatory: true, properties, body);

        var back = await returned.Task.WaitAsync(BrokerKit.Wait);
        Assert.Equal(312, back.Code);
        Assert.Equal("NO_ROUTE", back.Text);
        Assert.Equal(exchange, back.Exchange);
        Assert.Equal("nowhere", back.RoutingKey);
        Assert.Equal(MessageShape.Render(properties), back.Properties);
        Assert.Equal(body, back.Body);
        Assert.True(channel.IsOpen);
        await channel.ExchangeDeleteAsync(exchange);
    }

    [Fact]
    public async Task Properties_headers_and_body_arrive_intact_through_basic_get_and_basic_deliver()
    {
        await using var broker = await InProcessBroker.StartAsync();
        await using var connection = await broker.Factory().CreateConnectionAsync();
        // Not a tracking channel: with confirm tracking on, RabbitMQ.Client adds its own x-dotnet-pub-seq-no header.
        // A publish and a later basic.get on one channel are handled in order, so the get sees the messages.
        await using var channel = await connection.CreateChannelAsync();
        var queue = await channel.DeclareQueueAsync();
        var properties = MessageShape.FullProperties();
        var body = MessageShape.Body(300_000); // three body frames at the default frame-max of 128 KiB

        await channel.BasicPublishAsync("", queue, mandatory: true, properties, body);
        await channel.BasicPublishAsync("", queue, mandatory: true, properties, body);

        var got = await channel.BasicGetAsync(queue, autoAck: true);
        Assert.NotNull(got);
        Assert.Equal(MessageShape.Render(properties), MessageShape.Render(got.BasicProperties));
        Assert.Equal(body, got.Body.ToArray());
        Assert.Equal("", got.Exchange);
        Assert.Equal(queue, got.RoutingKey);
        Assert.False(got.Redelivered);
        Assert.Equal(1u, got.MessageCount);

        var consumer = new ProbeConsumer(channel);
        await channel.BasicConsumeAsync(queue, autoAck: true, consumer);
        var delivered = await consumer.NextAsync();
        Assert.Equal(MessageShape.Render(properties), MessageShape.Render(delivered.Properties));
        Assert.Equal(body, delivered.Body);
        await channel.QueueDeleteAsync(queue);
    }

    [Fact]
    public async Task A_message_without_properties_arrives_without_properties()
    {
        await using var broker = await InProcessBroker.StartAsync();
        await using var connection = await broker.Factory().CreateConnectionAsync();
        await using var channel = await connection.CreateChannelAsync(); // no tracking, which would add a header
        var queue = await channel.DeclareQueueAsync();

        await channel.BasicPublishAsync("", queue, ReadOnlyMemory<byte>.Empty);

        var got = await channel.BasicGetAsync(queue, autoAck: true);
        Assert.NotNull(got);
        Assert.Empty(got.Body.ToArray());
        Assert.Equal(MessageShape.Render(new BasicProperties()), MessageShape.Render(got.BasicProperties));
        await channel.QueueDeleteAsync(queue);
    }

    [Fact]
    public async Task With_confirm_tracking_a_mandatory_unroutable_publish_throws_PublishReturnException_312()
    {
        await using var broker = await InProcessBroker.StartAsync();
        await using var connection = await broker.Factory().CreateConnectionAsync();
        await using var channel = await connection.CreateConfirmingChannelAsync();
        var routingKey = BrokerKit.Unique("no-such-queue");

        var failure = await Assert.ThrowsAsync<PublishReturnException>(() => channel.PublishAsync("", routingKey, "bounced", mandatory: true));

        Assert.True(failure.IsReturn);
        Assert.Equal(312, failure.ReplyCode);
        Assert.Equal("NO_ROUTE", failure.ReplyText);
        Assert.Equal("", failure.Exchange);
        Assert.Equal(routingKey, failure.RoutingKey);
        Assert.True(channel.IsOpen);
    }

    [Fact]
    public async Task On_a_confirm_channel_the_return_comes_before_the_ack_of_the_same_message()
    {
        await using var broker = await InProcessBroker.StartAsync();
        await using var connection = await broker.Factory().CreateConnectionAsync();
        await using var channel = await connection.CreateChannelAsync(new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: false));
        var events = new ConcurrentQueue<string>();
        var acked = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        channel.BasicReturnAsync += (_, args) =>
        {
            events.Enqueue("return " + args.ReplyCode);
            return Task.CompletedTask;
        };
        channel.BasicAcksAsync += (_, args) =>
        {
            events.Enqueue("ack " + args.DeliveryTag);
            acked.TrySetResult();
            return Task.CompletedTask;
        };
        channel.BasicNacksAsync += (_, args) =>
        {
            events.Enqueue("nack " + args.DeliveryTag);
            acked.TrySetResult();
            return Task.CompletedTask;
        };

        Assert.Equal(1ul, await channel.GetNextPublishSequenceNumberAsync());
        await channel.PublishAsync("amq.direct", BrokerKit.Unique("unbound"), "bounced", mandatory: true);
        await acked.Task.WaitAsync(BrokerKit.Wait);

        Assert.Equal(["return 312", "ack 1"], events.ToArray());
    }

    [Fact]
    public async Task A_non_mandatory_unroutable_message_is_dropped_silently_and_still_acked()
    {
        await using var broker = await InProcessBroker.StartAsync();
        await using var connection = await broker.Factory().CreateConnectionAsync();
        await using var channel = await connection.CreateConfirmingChannelAsync();
        int returns = 0;
        channel.BasicReturnAsync += (_, _) =>
        {
            Interlocked.Increment(ref returns);
            return Task.CompletedTask;
        };
        var exchange = BrokerKit.Unique("x");
        await channel.ExchangeDeclareAsync(exchange, ExchangeType.Topic);

        // With tracking, completing is the ack: a nack or return would throw.
        await channel.PublishAsync(exchange, "no.binding", "dropped");
        await channel.PublishAsync("", BrokerKit.Unique("no-such-queue"), "dropped");

        // Returns precede acks, so none can still be on its way.
        Assert.Equal(0, Volatile.Read(ref returns));
        Assert.True(channel.IsOpen);
        await channel.ExchangeDeleteAsync(exchange);
    }

    [Fact]
    public async Task A_thousand_confirmed_publishes_are_all_acked_and_all_enqueued()
    {
        const int Count = 1000;
        await using var broker = await InProcessBroker.StartAsync();
        await using var connection = await broker.Factory().CreateConnectionAsync();
        await using var channel = await connection.CreateChannelAsync(new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: false));
        var queue = await channel.DeclareQueueAsync();
        var acked = new bool[Count + 1];
        int ackedCount = 0;
        int nacks = 0;
        var allAcked = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var gate = new object();
        channel.BasicAcksAsync += (_, args) =>
        {
            lock (gate)
            {
                ulong from = args.Multiple ? 1 : args.DeliveryTag;
                for (ulong tag = from; tag <= args.DeliveryTag; tag++)
                {
                    if (!acked[tag])
                    {
                        acked[tag] = true;
                        ackedCount++;
                    }
                }

                if (ackedCount == Count)
                {
                    allAcked.TrySetResult();
                }
            }

            return Task.CompletedTask;
        };
        channel.BasicNacksAsync += (_, _) =>
        {
            Interlocked.Increment(ref nacks);
            return Task.CompletedTask;
        };

        for (int i = 1; i <= Count; i++)
        {
            Assert.Equal((ulong)i, await channel.GetNextPublishSequenceNumberAsync());
            await channel.PublishAsync("", queue, "m" + i);
        }

        await allAcked.Task.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(0, Volatile.Read(ref nacks));
        Assert.Equal((uint)Count, await connection.ReadyCountAsync(queue));
        await channel.QueueDeleteAsync(queue);
    }

    [Fact]
    public async Task With_confirm_tracking_a_thousand_concurrent_publishes_all_complete()
    {
        const int Count = 1000;
        await using var broker = await InProcessBroker.StartAsync();
        await using var connection = await broker.Factory().CreateConnectionAsync();
        await using var channel = await connection.CreateConfirmingChannelAsync();
        var queue = await channel.DeclareQueueAsync();

        // The client throttles to 128 outstanding confirms; the whole batch is bounded, not each publish.
        var publishes = Enumerable.Range(0, Count).Select(i => channel.BasicPublishAsync("", queue, System.Text.Encoding.UTF8.GetBytes("m" + i)).AsTask()).ToArray();
        await Task.WhenAll(publishes).WaitAsync(TimeSpan.FromSeconds(20));

        Assert.Equal((uint)Count, await connection.ReadyCountAsync(queue));
        await channel.QueueDeleteAsync(queue);
    }

    [Fact]
    public async Task A_publish_refused_by_a_full_reject_publish_queue_is_nacked_and_tracking_throws()
    {
        await using var broker = await InProcessBroker.StartAsync();
        await using var connection = await broker.Factory().CreateConnectionAsync();
        await using var channel = await connection.CreateConfirmingChannelAsync();
        var queue = await channel.DeclareQueueAsync("bounded", new Dictionary<string, object?> { ["x-max-length"] = 1, ["x-overflow"] = "reject-publish" });

        await channel.PublishAsync("", queue, "fits");
        var failure = await Assert.ThrowsAsync<PublishException>(() => channel.PublishAsync("", queue, "overflows"));

        Assert.False(failure.IsReturn);
        Assert.Equal(2ul, failure.PublishSequenceNumber);
        Assert.True(channel.IsOpen);
        Assert.Equal(["fits"], await channel.DrainAsync(queue));
        await channel.QueueDeleteAsync(queue);
    }

    [Fact]
    public async Task A_max_length_queue_drops_from_the_head_by_default()
    {
        await using var broker = await InProcessBroker.StartAsync();
        await using var connection = await broker.Factory().CreateConnectionAsync();
        await using var channel = await connection.CreateConfirmingChannelAsync();
        var queue = await channel.DeclareQueueAsync("bounded", new Dictionary<string, object?> { ["x-max-length"] = 2 });

        foreach (var body in new[] { "1", "2", "3", "4" })
        {
            await channel.PublishAsync("", queue, body);
        }

        Assert.Equal(["3", "4"], await channel.DrainAsync(queue));
        await channel.QueueDeleteAsync(queue);
    }

    [Fact]
    public async Task A_16_MiB_body_round_trips_on_a_connection_with_the_default_frame_max()
    {
        await using var broker = await InProcessBroker.StartAsync();
        await using var connection = await broker.Factory().CreateConnectionAsync();
        await using var channel = await connection.CreateConfirmingChannelAsync();
        Assert.Equal(131072u, connection.FrameMax);
        var queue = await channel.DeclareQueueAsync();
        var body = MessageShape.Body(16 * 1024 * 1024, seed: 16);

        await channel.BasicPublishAsync("", queue, mandatory: true, new BasicProperties { MessageId = "big" }, body).AsTask().WaitAsync(TimeSpan.FromSeconds(30));

        var got = await channel.BasicGetAsync(queue, autoAck: true);
        Assert.NotNull(got);
        Assert.Equal("big", got.BasicProperties.MessageId);
        Assert.Equal(body.Length, got.Body.Length);
        Assert.True(body.AsSpan().SequenceEqual(got.Body.Span), "the 16 MiB body came back different");
        await channel.QueueDeleteAsync(queue);
    }

    [Fact]
    public async Task A_hundred_channels_on_one_connection_each_declare_publish_and_get_concurrently()
    {
        await using var broker = await InProcessBroker.StartAsync();
        await using var connection = await broker.Factory().CreateConnectionAsync();

        var work = Enumerable.Range(0, 100).Select(async i =>
        {
            await using var channel = await connection.CreateConfirmingChannelAsync();
            var queue = (await channel.QueueDeclareAsync("", durable: false, exclusive: true, autoDelete: true)).QueueName;
            for (int m = 0; m < 3; m++)
            {
                await channel.PublishAsync("", queue, $"channel-{i}-message-{m}");
            }

            var bodies = await channel.DrainAsync(queue);
            await channel.CloseAsync();
            return (Index: i, Bodies: bodies);
        }).ToArray();
        var results = await Task.WhenAll(work).WaitAsync(TimeSpan.FromSeconds(20));

        Assert.All(results, r => Assert.Equal(Enumerable.Range(0, 3).Select(m => $"channel-{r.Index}-message-{m}"), r.Bodies));
        Assert.True(connection.IsOpen);
    }

    [Fact]
    public async Task Publishing_to_a_missing_exchange_closes_the_channel_with_404()
    {
        await using var broker = await InProcessBroker.StartAsync();
        await using var connection = await broker.Factory().CreateConnectionAsync();
        await using var channel = await connection.CreateChannelAsync();
        var exchange = BrokerKit.Unique("missing");

        await channel.PublishAsync(exchange, "k", "into-the-void");

        await channel.ClosedByServerAsync(404, $"NOT_FOUND - no exchange '{exchange}' in vhost '/'");
        await BrokerKit.AssertUsableAsync(connection);
    }

    [Fact]
    public async Task Publishing_with_a_user_id_other_than_the_authenticated_user_is_406()
    {
        await using var broker = await InProcessBroker.StartAsync();
        await using var connection = await broker.Factory().CreateConnectionAsync();
        await using var channel = await connection.CreateChannelAsync();
        var queue = await channel.DeclareQueueAsync();

        await channel.PublishAsync("", queue, "forged", properties: new BasicProperties { UserId = "mallory" });

        await channel.ClosedByServerAsync(406, "PRECONDITION_FAILED - user_id property set to 'mallory' but authenticated user was 'guest'");
        Assert.Equal(0u, await connection.ReadyCountAsync(queue));
    }

    [Fact]
    public async Task The_routing_key_and_exchange_of_the_publish_are_what_the_consumer_sees()
    {
        await using var broker = await InProcessBroker.StartAsync();
        await using var connection = await broker.Factory().CreateConnectionAsync();
        await using var channel = await connection.CreateConfirmingChannelAsync();
        var queue = await channel.DeclareQueueAsync();
        await channel.QueueBindAsync(queue, "amq.topic", "conformance.*.key");

        await channel.PublishAsync("amq.topic", "conformance.some.key", "routed");

        var got = await channel.BasicGetAsync(queue, autoAck: true);
        Assert.NotNull(got);
        Assert.Equal("amq.topic", got.Exchange);
        Assert.Equal("conformance.some.key", got.RoutingKey);
        Assert.Equal(0u, got.MessageCount);
        await channel.QueueDeleteAsync(queue);
    }
}
