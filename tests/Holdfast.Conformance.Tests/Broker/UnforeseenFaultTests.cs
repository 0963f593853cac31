using Holdfast.Conformance.Tests.Support;
using RabbitMQ.Client;

namespace Holdfast.Conformance.Tests.Broker;

/// <summary>
/// An exception nobody foresaw (not a refusal the broker names) on a channel's publish, commit or get path used to go
/// past the door's handler, which catches refusals only: the read loop died and took the connection and every channel on
/// it, or a commit stopped half way. Now it costs only its channel, closed with 541 INTERNAL_ERROR: a publish is never
/// confirmed, a commit finishes first and answers commit-ok, a get leaves its message in place; the host logs the bug.
/// The fault comes from an observer that throws (see <see cref="RecordingBrokerObserver.Fault"/>) while the broker
/// reports a return or get that could not be sent; the scenarios are those of OversizedReturnTests and OversizedGetTests.
/// </summary>
public sealed class UnforeseenFaultTests
{
    private const int SmallFrameMax = 4096;

    // As in OversizedReturnTests: fits a 4096 frame until the reply-to becomes a 44-byte reply name.
    private const int ReturnPadding = 4024;

    [Fact]
    public async Task A_fault_returning_a_publish_closes_only_its_channel_with_541_and_the_message_is_not_confirmed()
    {
        var faults = new FaultLog();
        await using var broker = await InProcessBroker.StartAsync(logs: faults);
        if (broker.IsExternal)
        {
            return;
        }

        var observer = RecordingBrokerObserver.Install(broker);
        observer.Fault = new InvalidOperationException("observer fault");
        var factory = broker.Factory();
        factory.RequestedFrameMax = SmallFrameMax;
        await using var connection = await factory.CreateConnectionAsync();
        await using var bystander = await connection.CreateChannelAsync();
        var queue = await bystander.DeclareQueueAsync("bystander");
        // Confirms without the client's tracking, which would add a header and make the publish itself too large.
        await using var channel = await connection.CreateChannelAsync(new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: false));
        var confirms = 0;
        channel.BasicAcksAsync += (_, _) =>
        {
            Interlocked.Increment(ref confirms);
            return Task.CompletedTask;
        };
        await channel.BasicConsumeAsync("amq.rabbitmq.reply-to", autoAck: true, new ProbeConsumer(channel));

        await channel.PublishAsync("", BrokerKit.Unique("nobody"), "request", mandatory: true, properties: UnreturnableRequest());
        var closed = await channel.ClosedByServerAsync(541);
        Assert.Equal(0, Volatile.Read(ref confirms));
        Assert.Contains("basic.publish failed with an internal error (InvalidOperationException: observer fault)", closed.ReplyText, StringComparison.Ordinal);
        Assert.Equal(60, closed.ClassId);
        Assert.Equal(40, closed.MethodId);
        Assert.Single(observer.Returns);

        // The connection and its other channel go on; the bug is logged as a channel's, not as a dropped connection.
        await bystander.PublishAsync("", queue, "fine");
        Assert.Equal("fine", BrokerKit.Text((await bystander.BasicGetAsync(queue, autoAck: true))!.Body));
        await BrokerKit.AssertUsableAsync(connection);
        Assert.Contains(faults.Faults, f => f.Contains("an internal error closed the channel", StringComparison.Ordinal) && f.Contains("observer fault", StringComparison.Ordinal));
        Assert.DoesNotContain(faults.Faults, f => f.Contains("was dropped", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_fault_returning_a_message_in_a_commit_answers_commit_ok_with_everything_done_then_closes_the_channel_with_541()
    {
        await using var broker = await InProcessBroker.StartAsync();
        if (broker.IsExternal)
        {
            return;
        }

        var observer = RecordingBrokerObserver.Install(broker);
        observer.Fault = new InvalidOperationException("observer fault");
        var factory = broker.Factory();
        factory.RequestedFrameMax = SmallFrameMax;
        await using var connection = await factory.CreateConnectionAsync();
        await using var setup = await connection.CreateChannelAsync();
        var queue = await setup.DeclareQueueAsync("tx-fault");
        await setup.PublishAsync("", queue, "to ack");

        await using var channel = await connection.CreateChannelAsync();
        await channel.BasicConsumeAsync("amq.rabbitmq.reply-to", autoAck: true, new ProbeConsumer(channel));
        var got = await channel.BasicGetAsync(queue, autoAck: false);
        Assert.NotNull(got);
        await channel.TxSelectAsync();
        await channel.PublishAsync("", BrokerKit.Unique("nobody"), "request", mandatory: true, properties: UnreturnableRequest());
        await channel.PublishAsync("", queue, "after");
        await channel.BasicAckAsync(got.DeliveryTag, multiple: false);

        await channel.TxCommitAsync();
        var closed = await channel.ClosedByServerAsync(541);
        Assert.Contains("could not be returned (InvalidOperationException: observer fault)", closed.ReplyText, StringComparison.Ordinal);

        // The whole transaction took effect: the later message is in, and the ack held (nothing came back when the channel closed).
        Assert.Equal(["after"], await setup.DrainAsync(queue));
        await BrokerKit.AssertUsableAsync(connection);
    }

    [Fact]
    public async Task A_fault_answering_a_get_closes_only_its_channel_with_541_and_the_message_stays_in_place()
    {
        await using var broker = await InProcessBroker.StartAsync();
        if (broker.IsExternal)
        {
            return;
        }

        var observer = RecordingBrokerObserver.Install(broker);
        observer.Fault = new InvalidOperationException("observer fault");
        await using var publishing = await broker.Factory().CreateConnectionAsync();
        var smallFactory = broker.Factory();
        smallFactory.RequestedFrameMax = SmallFrameMax;
        await using var small = await smallFactory.CreateConnectionAsync();

        await using var publisher = await publishing.CreateConfirmingChannelAsync();
        var queue = await publisher.DeclareQueueAsync("get-fault");
        var big = new BasicProperties { Headers = new Dictionary<string, object?> { ["padding"] = new string('p', 3 * SmallFrameMax) } };
        await publisher.PublishAsync("", queue, "big", properties: big);

        await using var getting = await small.CreateChannelAsync();
        var closed = await BrokerKit.RefusedAsync(() => getting.BasicGetAsync(queue, autoAck: true), 541);
        Assert.Contains("basic.get failed with an internal error (InvalidOperationException: observer fault)", closed.ReplyText, StringComparison.Ordinal);
        Assert.Equal(60, closed.ClassId);
        Assert.Equal(70, closed.MethodId);

        // The small connection goes on, and the message is in its place, not marked redelivered.
        await BrokerKit.AssertUsableAsync(small);
        await using var consuming = await publishing.CreateChannelAsync();
        var got = await consuming.BasicGetAsync(queue, autoAck: true);
        Assert.Equal("big", BrokerKit.Text(got!.Body));
        Assert.False(got.Redelivered);
    }

    private static BasicProperties UnreturnableRequest() => new()
    {
        ReplyTo = "amq.rabbitmq.reply-to",
        Headers = new Dictionary<string, object?> { ["padding"] = new string('p', ReturnPadding) },
    };
}
