using Holdfast.Amqp.Codec;
using Holdfast.Broker;
using Holdfast.Broker.Messages;
using Holdfast.Broker.Sessions;
using Holdfast.Conformance.Tests.Support;
using RabbitMQ.Client;
using BrokerDelivery = Holdfast.Broker.Sessions.Delivery;

namespace Holdfast.Conformance.Tests.Broker;

/// <summary>
/// An exception nobody foresaw (not a refusal the broker names) on a channel's publish, commit or get path used to go
/// past the door's handler, which catches refusals only: the read loop died and took the connection and every channel on
/// it, or a commit stopped half way. Now it costs only its channel, closed with 541 INTERNAL_ERROR: a publish is never
/// confirmed, a commit does nothing, a get leaves its message in place; the host logs the bug. The publish and commit
/// faults come from a handler that throws (<see cref="FaultingChannelHandlers"/>); the get's from the door itself, sent a
/// message it cannot encode.
/// </summary>
public sealed class UnforeseenFaultTests
{
    [Fact]
    public async Task A_fault_handling_a_publish_closes_only_its_channel_with_541_and_the_message_is_not_confirmed()
    {
        var faults = new FaultLog();
        FaultingChannelHandlers? handlers = null;
        await using var broker = await InProcessBroker.StartAsync(logs: faults, wrapHandlers: inner => handlers = new FaultingChannelHandlers(inner));
        if (broker.IsExternal)
        {
            return;
        }

        await using var connection = await broker.Factory().CreateConnectionAsync();
        await using var bystander = await connection.CreateChannelAsync();
        var queue = await bystander.DeclareQueueAsync("bystander");
        // Confirms counted as they come: the client's tracking would wait for one that is never sent.
        await using var channel = await connection.CreateChannelAsync(new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: false));
        var confirms = 0;
        channel.BasicAcksAsync += (_, _) =>
        {
            Interlocked.Increment(ref confirms);
            return Task.CompletedTask;
        };

        handlers!.Arm(AmqpMethodId.BasicPublish);
        await channel.PublishAsync("", queue, "faulted");
        var closed = await channel.ClosedByServerAsync(541);
        Assert.Equal(0, Volatile.Read(ref confirms));
        Assert.Contains($"basic.publish failed with an internal error (InvalidOperationException: {FaultingChannelHandlers.FaultMessage})", closed.ReplyText, StringComparison.Ordinal);
        Assert.Equal(60, closed.ClassId);
        Assert.Equal(40, closed.MethodId);

        // The connection and its other channel go on; the bug is logged as a channel's, not as a dropped connection.
        await bystander.PublishAsync("", queue, "fine");
        Assert.Equal(["fine"], await bystander.DrainAsync(queue));
        await BrokerKit.AssertUsableAsync(connection);
        Assert.Contains(faults.Faults, f => f.Contains("an internal error closed the channel", StringComparison.Ordinal) && f.Contains(FaultingChannelHandlers.FaultMessage, StringComparison.Ordinal));
        Assert.DoesNotContain(faults.Faults, f => f.Contains("was dropped", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_fault_handling_a_commit_closes_the_channel_with_541_and_nothing_of_the_transaction_takes_effect()
    {
        FaultingChannelHandlers? handlers = null;
        await using var broker = await InProcessBroker.StartAsync(wrapHandlers: inner => handlers = new FaultingChannelHandlers(inner));
        if (broker.IsExternal)
        {
            return;
        }

        await using var connection = await broker.Factory().CreateConnectionAsync();
        await using var setup = await connection.CreateChannelAsync();
        var queue = await setup.DeclareQueueAsync("tx-fault");
        await setup.PublishAsync("", queue, "to ack");

        await using var channel = await connection.CreateChannelAsync();
        var got = await channel.BasicGetAsync(queue, autoAck: false);
        Assert.NotNull(got);
        await channel.TxSelectAsync();
        await channel.PublishAsync("", queue, "after");
        await channel.BasicAckAsync(got.DeliveryTag, multiple: false);

        handlers!.Arm(AmqpMethodId.TxCommit);
        var closed = await BrokerKit.RefusedAsync(() => channel.TxCommitAsync(), 541);
        Assert.Contains($"tx.commit failed with an internal error (InvalidOperationException: {FaultingChannelHandlers.FaultMessage})", closed.ReplyText, StringComparison.Ordinal);
        Assert.Equal(90, closed.ClassId);
        Assert.Equal(20, closed.MethodId);

        // Not half done: the publish never happened, and the unsettled ack left the message to come back, redelivered.
        var back = await setup.BasicGetAsync(queue, autoAck: true);
        Assert.Equal("to ack", BrokerKit.Text(back!.Body));
        Assert.True(back.Redelivered);
        Assert.Empty(await setup.DrainAsync(queue));
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
        await using var connection = await broker.Factory().CreateConnectionAsync();
        await using var setup = await connection.CreateChannelAsync();
        var queue = await setup.DeclareQueueAsync("get-fault");

        // From another door (the broker's own API): a message-id longer than an AMQP short string, which this door
        // cannot encode. Its send throws what no refusal names, after the queue has handed the message over.
        var otherDoor = broker.Server.Broker.OpenChannel("/", connectionId: 1_000_000, "guest", new OtherDoor());
        var properties = new MessageProperties { DeliveryMode = 2, MessageId = new string('m', 300) };
        otherDoor.Publish(new BrokerMessage("", queue, properties, "unencodable"u8.ToArray()), mandatory: false);

        await using var getting = await connection.CreateChannelAsync();
        var closed = await BrokerKit.RefusedAsync(() => getting.BasicGetAsync(queue, autoAck: true), 541);
        Assert.Contains("could not be sent for basic.get (ArgumentException:", closed.ReplyText, StringComparison.Ordinal);
        Assert.Equal(60, closed.ClassId);
        Assert.Equal(70, closed.MethodId);
        var report = Assert.Single(observer.Gets);
        Assert.IsType<ArgumentException>(report.Exception);

        // The connection goes on, and the message is in its place, not marked redelivered.
        await BrokerKit.AssertUsableAsync(connection);
        var kept = otherDoor.Get(queue, noAck: true);
        Assert.Equal("unencodable", BrokerKit.Text(kept!.Message.Body));
        Assert.False(kept.Redelivered);
        otherDoor.Close();
    }

    private sealed class OtherDoor : IChannelEvents
    {
        public bool IsCongested => false;

        public void Deliver(in BrokerDelivery delivery)
        {
        }

        public void Fail(BrokerException reason)
        {
        }

        public void ReturnMessage(BrokerMessage message, ReturnReason reason)
        {
        }

        public void Confirm(ulong sequence, bool multiple, bool ack)
        {
        }

        public void ConsumerCancelled(string consumerTag)
        {
        }
    }
}
