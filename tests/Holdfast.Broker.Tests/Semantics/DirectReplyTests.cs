using System.Text;
using Holdfast.Broker.Messages;
using Holdfast.Broker.Sessions;
using Holdfast.Testing;

namespace Holdfast.Broker.Tests.Semantics;

/// <summary>Direct reply-to through the broker's own API: names, transactions, delivery tags, and names that go away.</summary>
public sealed class DirectReplyTests
{
    private const string PseudoQueue = "amq.rabbitmq.reply-to";

    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);

    private static BrokerMessage Request(string queue, string body) =>
        BrokerHarness.Message("", queue, body, persistent: false) with { Properties = new MessageProperties { ReplyTo = PseudoQueue } };

    private static string Body(BrokerMessage message) => Encoding.UTF8.GetString(message.Body.Span);

    /// <summary>The reply-to a request from <paramref name="requester"/> arrives with at the server.</summary>
    private static string GeneratedName(BrokerChannel requester, BrokerChannel server, string queue)
    {
        requester.Publish(Request(queue, "request"), mandatory: true);
        var request = server.Get(queue, noAck: true) ?? throw new InvalidOperationException("the request did not arrive");
        return request.Message.Properties.ReplyTo!;
    }

    [Fact]
    public async Task Reply_names_leave_the_directory_when_their_consumer_is_cancelled_or_its_channel_closes()
    {
        await using var harness = await BrokerHarness.StartAsync();
        var (first, _) = harness.OpenChannel();
        var (second, _) = harness.OpenChannel(connectionId: 2);
        first.Consume(PseudoQueue, "replies-1", noAck: true, exclusive: false, _ => { });
        second.Consume(PseudoQueue, "replies-2", noAck: true, exclusive: false, _ => { });
        Assert.Equal(2, harness.Vhost.Replies.Count);

        Assert.True(first.Cancel("replies-1"));
        second.Close();

        Assert.Equal(0, harness.Vhost.Replies.Count);

        // A cancelled reply consumer can be replaced, under a new name.
        first.Consume(PseudoQueue, "replies-again", noAck: true, exclusive: false, _ => { });
        Assert.Equal(1, harness.Vhost.Replies.Count);
    }

    [Fact]
    public async Task A_reply_shares_the_requesters_delivery_tags_with_its_queue_deliveries()
    {
        await using var harness = await BrokerHarness.StartAsync();
        await harness.DeclareQueueAsync("work", durable: false);
        await harness.DeclareQueueAsync("rpc", durable: false);
        var (requester, events) = harness.OpenChannel();
        var (server, _) = harness.OpenChannel(connectionId: 2);
        requester.Consume("work", "work-consumer", noAck: false, exclusive: false, _ => { });
        requester.Consume(PseudoQueue, "replies", noAck: true, exclusive: false, _ => { });
        var replyTo = GeneratedName(requester, server, "rpc");

        server.Publish(BrokerHarness.Message("", "work", "job", persistent: false), mandatory: true);
        server.Publish(BrokerHarness.Message("", replyTo, "answer", persistent: false), mandatory: true);
        server.Publish(BrokerHarness.Message("", "work", "job-2", persistent: false), mandatory: true);

        var deliveries = events.Deliveries.ToArray();
        Assert.Equal(["job", "answer", "job-2"], deliveries.Select(d => Body(d.Message)));
        Assert.Equal([1ul, 2ul, 3ul], deliveries.Select(d => d.DeliveryTag));
        Assert.Equal("replies", deliveries[1].ConsumerTag);

        // Only the queue's deliveries wait for an ack; acking past the reply's tag settles both.
        Assert.Equal(2, requester.UnackedCount);
        requester.Ack(3, multiple: true);
        Assert.Equal(0, requester.UnackedCount);
    }

    [Fact]
    public async Task In_a_transaction_the_reply_to_is_named_at_publish_and_the_reply_goes_out_at_commit()
    {
        await using var harness = await BrokerHarness.StartAsync();
        await harness.DeclareQueueAsync("rpc", durable: false);
        var (requester, requesterEvents) = harness.OpenChannel();
        var (server, serverEvents) = harness.OpenChannel(connectionId: 2);
        requester.Consume(PseudoQueue, "replies", noAck: true, exclusive: false, _ => { });

        requester.SelectTransactions();
        requester.Publish(Request("rpc", "request"), mandatory: true);
        await requester.CommitAsync();
        var replyTo = server.Get("rpc", noAck: true)!.Message.Properties.ReplyTo!;
        Assert.StartsWith(PseudoQueue + ".", replyTo, StringComparison.Ordinal);

        server.SelectTransactions();
        server.Publish(BrokerHarness.Message("", replyTo, "answer", persistent: false), mandatory: true);
        Assert.Empty(requesterEvents.Deliveries);
        await server.CommitAsync();

        Assert.Equal("answer", Body(Assert.Single(requesterEvents.Deliveries).Message));
        Assert.Empty(serverEvents.Returns);
    }

    [Fact]
    public async Task A_confirmed_reply_is_acked_whether_it_was_delivered_or_returned()
    {
        await using var harness = await BrokerHarness.StartAsync();
        await harness.DeclareQueueAsync("rpc", durable: false);
        var (requester, requesterEvents) = harness.OpenChannel();
        var (server, serverEvents) = harness.OpenChannel(connectionId: 2);
        requester.Consume(PseudoQueue, "replies", noAck: true, exclusive: false, _ => { });
        var replyTo = GeneratedName(requester, server, "rpc");
        server.SelectConfirms();

        server.Publish(BrokerHarness.Message("", replyTo, "answer", persistent: true), mandatory: true);
        requester.Close();
        server.Publish(BrokerHarness.Message("", replyTo, "late", persistent: true), mandatory: true);

        Assert.Equal("answer", Body(Assert.Single(requesterEvents.Deliveries).Message));
        Assert.Equal("late", Body(Assert.Single(serverEvents.Returns)));
        await Eventually.TrueAsync(() => serverEvents.Confirms.Any(c => c.Sequence == 2), Wait, "both replies confirmed");
        Assert.All(serverEvents.Confirms, c => Assert.True(c.Ack));
    }
}
