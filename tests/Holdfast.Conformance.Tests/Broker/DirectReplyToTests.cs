using System.Text;
using Holdfast.Conformance.Tests.Support;
using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;

namespace Holdfast.Conformance.Tests.Broker;

/// <summary>
/// RabbitMQ's direct reply-to: a requester consumes the pseudo-queue amq.rabbitmq.reply-to (no-ack),
/// its requests' reply-to is rewritten to a generated name, and replies published to the default exchange
/// under that name go straight to its consumer, from any connection, stored nowhere.
/// </summary>
public sealed class DirectReplyToTests
{
    private const string PseudoQueue = "amq.rabbitmq.reply-to";

    /// <summary>A requester channel consuming its replies, with the consumer tag the broker gave it.</summary>
    private static async Task<(IChannel Channel, ProbeConsumer Replies, string Tag)> RequesterAsync(IConnection connection)
    {
        var channel = await connection.CreateChannelAsync();
        var replies = new ProbeConsumer(channel);
        var tag = await channel.BasicConsumeAsync(PseudoQueue, autoAck: true, replies);
        return (channel, replies, tag);
    }

    /// <summary>An exclusive request queue with a consumer, on the server's own connection.</summary>
    private static async Task<(IChannel Channel, ProbeConsumer Requests, string Queue)> ServerAsync(IConnection connection)
    {
        var channel = await connection.CreateChannelAsync();
        var queue = (await channel.QueueDeclareAsync(BrokerKit.Unique("rpc"), durable: false, exclusive: true, autoDelete: false)).QueueName;
        var requests = new ProbeConsumer(channel);
        await channel.BasicConsumeAsync(queue, autoAck: true, requests);
        return (channel, requests, queue);
    }

    /// <summary>Sends one request from <paramref name="requester"/> and returns the reply-to name the server sees.</summary>
    private static async Task<string> GeneratedNameAsync(IChannel requester, ProbeConsumer requests, string queue)
    {
        await requester.PublishAsync("", queue, "request", properties: new BasicProperties { ReplyTo = PseudoQueue });
        var replyTo = (await requests.NextAsync()).Properties.ReplyTo;
        Assert.NotNull(replyTo);
        return replyTo;
    }

    [Fact]
    public async Task A_request_reply_round_trip_reaches_the_requester_through_its_generated_name_with_the_reply_properties()
    {
        await using var broker = await InProcessBroker.StartAsync();
        await using var clientConnection = await broker.Factory().CreateConnectionAsync();
        await using var serverConnection = await broker.Factory().CreateConnectionAsync();
        var (serverChannel, requests, queue) = await ServerAsync(serverConnection);
        var (client, replies, tag) = await RequesterAsync(clientConnection);

        await client.PublishAsync("", queue, "what time is it?", properties: new BasicProperties { ReplyTo = PseudoQueue, CorrelationId = "req-1", MessageId = "m-1" });
        var request = await requests.NextAsync();

        Assert.Equal("what time is it?", request.Text);
        Assert.Equal("req-1", request.Properties.CorrelationId);
        Assert.Equal("m-1", request.Properties.MessageId);
        var replyTo = request.Properties.ReplyTo;
        Assert.NotNull(replyTo);
        Assert.StartsWith(PseudoQueue + ".", replyTo, StringComparison.Ordinal);
        Assert.True(replyTo.Length >= PseudoQueue.Length + 1 + 16, $"the generated name should carry a long random token: {replyTo}");

        // The server answers on a confirming channel: the reply is acked although no queue took it.
        await using var replier = await serverConnection.CreateConfirmingChannelAsync();
        var properties = new BasicProperties
        {
            CorrelationId = "req-1",
            ContentType = "text/plain",
            Type = "time-reply",
            Headers = new Dictionary<string, object?> { ["served-by"] = "server-1" },
        };
        await replier.PublishAsync("", replyTo, "noon", properties: properties);

        var reply = await replies.NextAsync();
        Assert.Equal("noon", reply.Text);
        Assert.Equal(tag, reply.ConsumerTag);
        Assert.False(reply.Redelivered);
        Assert.Equal("", reply.Exchange);
        Assert.Equal(replyTo, reply.RoutingKey);
        Assert.Equal("req-1", reply.Properties.CorrelationId);
        Assert.Equal("text/plain", reply.Properties.ContentType);
        Assert.Equal("time-reply", reply.Properties.Type);
        Assert.Equal("server-1", Encoding.UTF8.GetString((byte[])reply.Properties.Headers!["served-by"]!));

        // The same channel keeps the same name for its next requests.
        Assert.Equal(replyTo, await GeneratedNameAsync(client, requests, queue));
        await client.CloseAsync();
        await serverChannel.CloseAsync();
    }

    [Fact]
    public async Task Consuming_the_pseudo_queue_with_manual_ack_closes_the_channel_with_406()
    {
        await using var broker = await InProcessBroker.StartAsync();
        await using var connection = await broker.Factory().CreateConnectionAsync();
        await using var channel = await connection.CreateChannelAsync();

        var reason = await BrokerKit.RefusedAsync(
            () => channel.BasicConsumeAsync(PseudoQueue, autoAck: false, new ProbeConsumer(channel)),
            406,
            "PRECONDITION_FAILED - reply consumer cannot acknowledge");

        Assert.Equal((60, 20), (reason.ClassId, reason.MethodId));
        Assert.True(connection.IsOpen);
    }

    [Fact]
    public async Task A_second_reply_consumer_on_one_channel_closes_the_channel_with_406()
    {
        await using var broker = await InProcessBroker.StartAsync();
        await using var connection = await broker.Factory().CreateConnectionAsync();
        var (channel, _, _) = await RequesterAsync(connection);

        await BrokerKit.RefusedAsync(
            () => channel.BasicConsumeAsync(PseudoQueue, autoAck: true, new ProbeConsumer(channel)),
            406,
            "PRECONDITION_FAILED - reply consumer already set");
        Assert.True(connection.IsOpen);
    }

    [Fact]
    public async Task Publishing_with_the_pseudo_queue_as_reply_to_without_consuming_it_closes_the_channel_with_406()
    {
        await using var broker = await InProcessBroker.StartAsync();
        await using var connection = await broker.Factory().CreateConnectionAsync();
        await using var server = await connection.CreateChannelAsync();
        var queue = (await server.QueueDeclareAsync(BrokerKit.Unique("rpc"), durable: false, exclusive: true, autoDelete: false)).QueueName;
        await using var channel = await connection.CreateChannelAsync();

        await channel.BasicPublishAsync("", queue, mandatory: false, new BasicProperties { ReplyTo = PseudoQueue }, Encoding.UTF8.GetBytes("request"));

        var reason = await channel.ClosedByServerAsync(406, "PRECONDITION_FAILED - fast reply consumer does not exist");
        Assert.Equal((60, 40), (reason.ClassId, reason.MethodId));
        Assert.Equal(0u, await server.MessageCountAsync(queue));
    }

    [Fact]
    public async Task The_pseudo_queue_always_declares_and_a_generated_name_declares_only_while_its_consumer_lives()
    {
        await using var broker = await InProcessBroker.StartAsync();
        await using var clientConnection = await broker.Factory().CreateConnectionAsync();
        await using var serverConnection = await broker.Factory().CreateConnectionAsync();
        var (_, requests, queue) = await ServerAsync(serverConnection);

        // RabbitMQ reports one consumer and no messages, whether or not anything consumes it.
        await using (var channel = await clientConnection.CreateChannelAsync())
        {
            var pseudo = await channel.QueueDeclarePassiveAsync(PseudoQueue);
            Assert.Equal((PseudoQueue, 0u, 1u), (pseudo.QueueName, pseudo.MessageCount, pseudo.ConsumerCount));
            var declared = await channel.QueueDeclareAsync(PseudoQueue, durable: false, exclusive: false, autoDelete: false);
            Assert.Equal((PseudoQueue, 0u, 1u), (declared.QueueName, declared.MessageCount, declared.ConsumerCount));
            await channel.CloseAsync();
        }

        var (client, _, _) = await RequesterAsync(clientConnection);
        var replyTo = await GeneratedNameAsync(client, requests, queue);
        await using (var check = await serverConnection.CreateChannelAsync())
        {
            var live = await check.QueueDeclarePassiveAsync(replyTo);
            Assert.Equal((replyTo, 0u, 1u), (live.QueueName, live.MessageCount, live.ConsumerCount));
            await check.CloseAsync();
        }

        await client.CloseAsync();
        Assert.False(await serverConnection.QueueExistsAsync(replyTo));

        // A name never handed out is no queue either.
        Assert.False(await serverConnection.QueueExistsAsync(PseudoQueue + ".not-a-real-token"));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_reply_after_the_requester_closed_its_channel_or_cancelled_is_unroutable(bool cancelInsteadOfClose)
    {
        await using var broker = await InProcessBroker.StartAsync();
        await using var clientConnection = await broker.Factory().CreateConnectionAsync();
        await using var serverConnection = await broker.Factory().CreateConnectionAsync();
        var (_, requests, queue) = await ServerAsync(serverConnection);
        var (client, replies, tag) = await RequesterAsync(clientConnection);
        var replyTo = await GeneratedNameAsync(client, requests, queue);

        if (cancelInsteadOfClose)
        {
            await client.BasicCancelAsync(tag);
            Assert.Equal(tag, await replies.CancelOkAsync());
        }
        else
        {
            await client.CloseAsync();
        }

        // Mandatory: returned 312 NO_ROUTE, then acked, as for a message no queue takes.
        await using var replier = await serverConnection.CreateConfirmingChannelAsync();
        var returned = await Assert.ThrowsAsync<PublishReturnException>(() => replier.PublishAsync("", replyTo, "too late", mandatory: true));
        Assert.Equal(312, returned.ReplyCode);
        Assert.Equal("NO_ROUTE", returned.ReplyText);
        Assert.Equal(replyTo, returned.RoutingKey);

        // Not mandatory: dropped, and still acked.
        await replier.PublishAsync("", replyTo, "too late, quietly");
        Assert.Equal(0, replies.Received);

        if (cancelInsteadOfClose)
        {
            // Without its reply consumer the channel may no longer ask for direct replies.
            await client.BasicPublishAsync("", queue, mandatory: false, new BasicProperties { ReplyTo = PseudoQueue }, Encoding.UTF8.GetBytes("request"));
            await client.ClosedByServerAsync(406, "PRECONDITION_FAILED - fast reply consumer does not exist");
        }
    }

    [Fact]
    public async Task A_mandatory_reply_to_a_live_consumer_is_delivered_and_returned_only_by_RabbitMq()
    {
        await using var broker = await InProcessBroker.StartAsync();
        await using var clientConnection = await broker.Factory().CreateConnectionAsync();
        await using var serverConnection = await broker.Factory().CreateConnectionAsync();
        var (_, requests, queue) = await ServerAsync(serverConnection);
        var (client, replies, _) = await RequesterAsync(clientConnection);
        var replyTo = await GeneratedNameAsync(client, requests, queue);
        await using var replier = await serverConnection.CreateConfirmingChannelAsync();

        // RabbitMQ treats a reply name as no queue even when it delivers, so a mandatory reply always comes back;
        // Holdfast returns one only when nobody got it, which is what a replier can act on.
        if (BrokerKit.IsRabbitMq(clientConnection))
        {
            var returned = await Assert.ThrowsAsync<PublishReturnException>(() => replier.PublishAsync("", replyTo, "answer", mandatory: true));
            Assert.Equal(312, returned.ReplyCode);
        }
        else
        {
            await replier.PublishAsync("", replyTo, "answer", mandatory: true);
        }

        Assert.Equal("answer", (await replies.NextAsync()).Text);
        await client.CloseAsync();
    }

    [Fact]
    public async Task Two_hundred_concurrent_requests_from_ten_requesters_are_each_answered_to_their_own_requester()
    {
        const int Requesters = 10;
        const int RequestsEach = 20;
        await using var broker = await InProcessBroker.StartAsync();
        await using var serverConnection = await broker.Factory().CreateConnectionAsync();
        await using var firstClients = await broker.Factory().CreateConnectionAsync();
        await using var secondClients = await broker.Factory().CreateConnectionAsync();
        var (serverChannel, requests, queue) = await ServerAsync(serverConnection);

        // The server echoes each request back to whatever reply-to it carries, from a channel of its own.
        await using var replier = await serverConnection.CreateChannelAsync();
        var namesSeen = new Dictionary<string, string>();
        var serve = Task.Run(async () =>
        {
            for (int i = 0; i < Requesters * RequestsEach; i++)
            {
                var request = await requests.NextAsync();
                var replyTo = request.Properties.ReplyTo!;
                namesSeen[request.Properties.CorrelationId!.Split('/')[0]] = replyTo;
                await replier.BasicPublishAsync("", replyTo, mandatory: false, new BasicProperties { CorrelationId = request.Properties.CorrelationId }, request.Body);
            }
        });

        var requesters = new List<(IChannel Channel, ProbeConsumer Replies)>();
        for (int r = 0; r < Requesters; r++)
        {
            var (channel, replies, _) = await RequesterAsync(r % 2 == 0 ? firstClients : secondClients);
            requesters.Add((channel, replies));
        }

        await Task.WhenAll(requesters.Select((requester, r) => Task.Run(async () =>
        {
            for (int i = 0; i < RequestsEach; i++)
            {
                var id = $"requester-{r}/{i}";
                await requester.Channel.BasicPublishAsync("", queue, mandatory: false, new BasicProperties { ReplyTo = PseudoQueue, CorrelationId = id }, Encoding.UTF8.GetBytes(id));
            }
        })));

        for (int r = 0; r < Requesters; r++)
        {
            var answers = await requesters[r].Replies.NextAsync(RequestsEach);
            var expected = Enumerable.Range(0, RequestsEach).Select(i => $"requester-{r}/{i}").ToHashSet();
            Assert.True(expected.SetEquals(answers.Select(a => a.Properties.CorrelationId!)), $"requester {r} got replies meant for others");
            Assert.All(answers, a => Assert.Equal(a.Properties.CorrelationId, a.Text));
        }

        await serve.WaitAsync(BrokerKit.Wait);
        Assert.Equal(Requesters, namesSeen.Values.Distinct().Count());
        Assert.All(requesters, requester => Assert.Equal(RequestsEach, requester.Replies.Received));
        foreach (var (channel, _) in requesters)
        {
            await channel.CloseAsync();
        }

        await serverChannel.CloseAsync();
    }
}
