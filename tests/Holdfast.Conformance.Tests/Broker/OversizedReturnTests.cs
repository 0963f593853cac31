using Holdfast.Broker;
using Holdfast.Conformance.Tests.Support;
using RabbitMQ.Client;

namespace Holdfast.Conformance.Tests.Broker;

/// <summary>
/// A return goes to the connection the message came from, so its header fits, unless the broker made it longer: a
/// request's reply-to of <c>amq.rabbitmq.reply-to</c> becomes a 44-byte reply name. Properties that fitted the publisher's
/// frame-max by less than those 23 bytes then cannot be returned. The encoder's throw used to kill the publisher's
/// connection with an internal error; now the publisher's channel closes with 406 and a reason that says so, before any
/// confirm, and the connection goes on. The host hears of it (IBrokerObserver.ReturnFailed, counted as a failed return).
/// </summary>
public sealed class OversizedReturnTests
{
    private const int FrameMax = 4096;

    // Content header payload: 14 bytes of class, weight, size and flags; the headers table (4 + 1 + 7 + 1 + 4 + n);
    // reply-to (1 + 21). 53 + n = 4077 fits the 4088 a 4096 frame carries; with the reply name (+23) it is 4100.
    private const int Padding = 4024;

    [Fact]
    public async Task A_mandatory_request_whose_rewritten_header_no_longer_fits_closes_the_publishers_channel_with_406()
    {
        await using var broker = await InProcessBroker.StartAsync();
        var observer = RecordingBrokerObserver.Install(broker);
        var factory = broker.Factory();
        factory.RequestedFrameMax = FrameMax;
        await using var connection = await factory.CreateConnectionAsync();
        Assert.Equal((uint)FrameMax, connection.FrameMax);

        await using var channel = await connection.CreateChannelAsync();
        var replies = new ProbeConsumer(channel);
        await channel.BasicConsumeAsync("amq.rabbitmq.reply-to", autoAck: true, replies);
        var returned = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        channel.BasicReturnAsync += (_, args) =>
        {
            returned.TrySetResult(args.ReplyText);
            return Task.CompletedTask;
        };

        var properties = new BasicProperties
        {
            ReplyTo = "amq.rabbitmq.reply-to",
            Headers = new Dictionary<string, object?> { ["padding"] = new string('p', Padding) },
        };
        var nobody = BrokerKit.Unique("nobody");
        await channel.PublishAsync("", nobody, "request", mandatory: true, properties: properties);

        if (BrokerKit.IsRabbitMq(connection))
        {
            // The reference sends the return, header frame past the frame-max or not.
            Assert.Equal("NO_ROUTE", await returned.Task.WaitAsync(BrokerKit.Wait));
            return;
        }

        var closed = await channel.ClosedByServerAsync(406);
        Assert.StartsWith("PRECONDITION_FAILED - message properties of 4100 bytes do not fit in a frame of this connection's frame-max 4096", closed.ReplyText, StringComparison.Ordinal);
        Assert.Contains("the unroutable mandatory message could not be returned", closed.ReplyText, StringComparison.Ordinal);
        Assert.Equal(60, closed.ClassId);
        Assert.Equal(40, closed.MethodId);
        Assert.False(returned.Task.IsCompleted);
        var report = Assert.Single(observer.Returns);
        Assert.Equal(("/", "", nobody), (report.VirtualHost, report.Exchange, report.RoutingKey));
        Assert.Equal(BrokerErrorKind.PreconditionFailed, Assert.IsType<BrokerException>(report.Exception).Kind);

        Assert.True(connection.IsOpen, "only the channel closes, not the connection");
        await BrokerKit.AssertUsableAsync(connection);
    }

    [Fact]
    public async Task In_a_transaction_the_commit_completes_with_commit_ok_and_the_channel_then_closes_with_406()
    {
        await using var broker = await InProcessBroker.StartAsync();
        var observer = RecordingBrokerObserver.Install(broker);
        var factory = broker.Factory();
        factory.RequestedFrameMax = FrameMax;
        await using var connection = await factory.CreateConnectionAsync();

        await using var setup = await connection.CreateChannelAsync();
        var queue = await setup.DeclareQueueAsync("tx-kept");
        await using var channel = await connection.CreateChannelAsync();
        await channel.BasicConsumeAsync("amq.rabbitmq.reply-to", autoAck: true, new ProbeConsumer(channel));
        await channel.TxSelectAsync();
        var properties = new BasicProperties
        {
            ReplyTo = "amq.rabbitmq.reply-to",
            Headers = new Dictionary<string, object?> { ["padding"] = new string('p', Padding) },
        };
        await channel.PublishAsync("", BrokerKit.Unique("nobody"), "request", mandatory: true, properties: properties);
        await channel.PublishAsync("", queue, "after");

        if (BrokerKit.IsRabbitMq(connection))
        {
            await channel.TxCommitAsync();
            return;
        }

        // commit-ok, since the commit stands (a client that saw it fail would publish everything again); then the close.
        await channel.TxCommitAsync();
        var closed = await channel.ClosedByServerAsync(406);
        Assert.Contains("the unroutable mandatory message could not be returned", closed.ReplyText, StringComparison.Ordinal);
        Assert.Equal("/", Assert.Single(observer.Returns).VirtualHost);

        // The rest of the transaction took effect: the message published after the unreturnable one is there.
        Assert.Equal(1u, await connection.ReadyCountAsync(queue));
        await BrokerKit.AssertUsableAsync(connection);
    }
}
