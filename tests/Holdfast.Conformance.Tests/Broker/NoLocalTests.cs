using System.Collections.Concurrent;
using Holdfast.Conformance.Tests.Support;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;

namespace Holdfast.Conformance.Tests.Broker;

/// <summary>
/// basic.consume's no-local flag is accepted and, as in RabbitMQ, ignored: a no-local consumer still gets
/// messages its own connection published, on its own channel or another.
/// </summary>
public sealed class NoLocalTests
{
    [Fact]
    public async Task A_no_local_consumer_is_accepted_and_receives_messages_from_its_own_connection_and_others()
    {
        await using var broker = await InProcessBroker.StartAsync();
        await using var connection = await broker.Factory().CreateConnectionAsync();
        await using var channel = await connection.CreateConfirmingChannelAsync();
        var queue = await channel.DeclareQueueAsync("no-local");

        var received = new ConcurrentQueue<string>();
        var all = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var consumer = new AsyncEventingBasicConsumer(channel);
        consumer.ReceivedAsync += (_, delivery) =>
        {
            received.Enqueue(BrokerKit.Text(delivery.Body));
            if (received.Count == 3)
            {
                all.TrySetResult();
            }

            return Task.CompletedTask;
        };
        var tag = await channel.BasicConsumeAsync(queue, autoAck: true, consumerTag: string.Empty, noLocal: true, exclusive: false, arguments: null, consumer);
        Assert.False(string.IsNullOrEmpty(tag));

        await channel.PublishAsync(string.Empty, queue, "same channel");
        await using (var sibling = await connection.CreateConfirmingChannelAsync())
        {
            await sibling.PublishAsync(string.Empty, queue, "same connection");
        }

        await using (var other = await broker.Factory().CreateConnectionAsync())
        await using (var otherChannel = await other.CreateConfirmingChannelAsync())
        {
            await otherChannel.PublishAsync(string.Empty, queue, "other connection");
        }

        await all.Task.WaitAsync(BrokerKit.Wait);
        Assert.Equal(["same channel", "same connection", "other connection"], received.ToArray());
        Assert.True(channel.IsOpen);
        await channel.QueueDeleteAsync(queue);
    }
}
