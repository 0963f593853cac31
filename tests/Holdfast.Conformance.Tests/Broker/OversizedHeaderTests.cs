using Holdfast.Conformance.Tests.Support;
using RabbitMQ.Client;

namespace Holdfast.Conformance.Tests.Broker;

/// <summary>
/// A publisher on a connection with a large frame-max can publish properties that do not fit one frame of a consumer
/// that negotiated a small one. The spec wants a content header in one frame, and a header cannot be split, so such a
/// message cannot go to that consumer at all. Holdfast closes that consumer's channel with 406 and a reason that says
/// so, puts the message back in its place (not redelivered: nobody saw it), and goes on serving everyone else.
/// RabbitMQ 3.10 instead sends the header frame past the consumer's frame-max (RabbitMQ.Client 7 accepts it).
/// </summary>
public sealed class OversizedHeaderTests
{
    [Fact]
    public async Task A_header_larger_than_the_consumers_frame_max_closes_only_its_channel_and_the_message_waits_for_another()
    {
        await using var broker = await InProcessBroker.StartAsync();
        await using var publishing = await broker.Factory().CreateConnectionAsync();
        await using var small = await broker.Factory().CreateSmallFrameConnectionAsync();

        await using var publisher = await publishing.CreateConfirmingChannelAsync();
        var queue = await publisher.DeclareQueueAsync("big-header");
        var big = BrokerKit.OversizedHeaders();
        await publisher.PublishAsync("", queue, "big", properties: big);
        await publisher.PublishAsync("", queue, "small");

        await using var smallChannel = await small.CreateChannelAsync();
        var smallConsumer = new ProbeConsumer(smallChannel);
        await smallChannel.BasicConsumeAsync(queue, autoAck: false, smallConsumer);

        if (BrokerKit.IsRabbitMq(small))
        {
            // The reference: the oversized header frame goes out anyway.
            var both = await smallConsumer.NextAsync(2);
            Assert.Equal(["big", "small"], both.Select(d => d.Text));
            return;
        }

        var closed = await smallChannel.ClosedByServerAsync(406);
        Assert.StartsWith("PRECONDITION_FAILED - message properties of ", closed.ReplyText, StringComparison.Ordinal);
        Assert.Contains($"do not fit in a frame of this connection's frame-max {BrokerKit.SmallFrameMax}", closed.ReplyText, StringComparison.Ordinal);
        Assert.Equal(0, smallConsumer.Received);
        Assert.True(small.IsOpen, "only the channel closes, not the consumer's connection");

        // Both messages are still there, in order, neither one marked redelivered; a consumer with room for the header gets them.
        Assert.Equal(2u, await publishing.ReadyCountAsync(queue));
        await using var consuming = await publishing.CreateChannelAsync();
        var healthy = new ProbeConsumer(consuming);
        await consuming.BasicConsumeAsync(queue, autoAck: false, healthy);
        var deliveries = await healthy.NextAsync(2);
        Assert.Equal(["big", "small"], deliveries.Select(d => d.Text));
        Assert.All(deliveries, d => Assert.False(d.Redelivered));
        Assert.Equal(3 * BrokerKit.SmallFrameMax, Assert.IsType<byte[]>(deliveries[0].Properties.Headers!["padding"]).Length);

        // The small connection still works for messages that fit it.
        await using var smallAgain = await small.CreateChannelAsync();
        await BrokerKit.AssertUsableAsync(small);
        Assert.True(publishing.IsOpen && publisher.IsOpen);
    }
}
