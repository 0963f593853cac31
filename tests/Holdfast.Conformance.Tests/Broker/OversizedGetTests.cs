using Holdfast.Broker;
using Holdfast.Conformance.Tests.Support;
using RabbitMQ.Client;

namespace Holdfast.Conformance.Tests.Broker;

/// <summary>
/// basic.get of a message whose properties do not fit one frame of the fetching connection (published on a connection
/// with a larger frame-max). get-ok used to be encoded after the fetch had taken the message: the encoder's throw went
/// up through the read loop, the connection died with an internal error, and a no-ack get had already settled the
/// message, so it was gone. Now the get fails like a delivery does: 406 on that channel, the message stays in its place
/// (not redelivered), the connection and its other channels go on, and the host hears of it (IBrokerObserver.GetFailed,
/// counted as a failed get). RabbitMQ sends the header frame past the frame-max.
/// </summary>
public sealed class OversizedGetTests
{
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_get_whose_header_does_not_fit_the_frame_max_closes_its_channel_and_leaves_the_message_in_the_queue(bool autoAck)
    {
        await using var broker = await InProcessBroker.StartAsync();
        var observer = RecordingBrokerObserver.Install(broker);
        await using var publishing = await broker.Factory().CreateConnectionAsync();
        await using var small = await broker.Factory().CreateSmallFrameConnectionAsync();

        await using var publisher = await publishing.CreateConfirmingChannelAsync();
        var queue = await publisher.DeclareQueueAsync("big-get");
        var big = BrokerKit.OversizedHeaders();
        await publisher.PublishAsync("", queue, "big", properties: big);
        await publisher.PublishAsync("", queue, "small");

        await using var getting = await small.CreateChannelAsync();
        if (BrokerKit.IsRabbitMq(small))
        {
            // The reference: the oversized header frame goes out anyway.
            var got = await getting.BasicGetAsync(queue, autoAck);
            Assert.Equal("big", BrokerKit.Text(got!.Body));
            return;
        }

        var closed = await BrokerKit.RefusedAsync(() => getting.BasicGetAsync(queue, autoAck), 406);
        Assert.StartsWith("PRECONDITION_FAILED - message properties of ", closed.ReplyText, StringComparison.Ordinal);
        Assert.Contains($"do not fit in a frame of this connection's frame-max {BrokerKit.SmallFrameMax}; the message stays in its queue", closed.ReplyText, StringComparison.Ordinal);
        Assert.Equal(60, closed.ClassId);
        Assert.Equal(70, closed.MethodId);
        var report = Assert.Single(observer.Gets);
        Assert.Equal(("/", queue), (report.VirtualHost, report.Queue));
        Assert.Equal(BrokerErrorKind.PreconditionFailed, Assert.IsType<BrokerException>(report.Exception).Kind);

        // Only that channel went: the small connection is open and serves what fits it.
        Assert.True(small.IsOpen, "only the channel closes, not the connection");
        await BrokerKit.AssertUsableAsync(small);
        Assert.Equal(2u, await small.ReadyCountAsync(queue));

        // Both messages in their places, neither marked redelivered; a connection with room for the header gets them.
        await using var consuming = await publishing.CreateChannelAsync();
        var first = await consuming.BasicGetAsync(queue, autoAck: true);
        Assert.Equal("big", BrokerKit.Text(first!.Body));
        Assert.False(first.Redelivered);
        Assert.Equal(3 * BrokerKit.SmallFrameMax, Assert.IsType<byte[]>(first.BasicProperties.Headers!["padding"]).Length);
        var second = await consuming.BasicGetAsync(queue, autoAck: true);
        Assert.Equal("small", BrokerKit.Text(second!.Body));
        Assert.True(publishing.IsOpen && publisher.IsOpen);
    }
}
