using RabbitMQ.Client;

namespace Holdfast.Conformance.Tests.Semantics.Restart;

/// <summary>x-max-priority and x-single-active-consumer on durable queues, through a restart.</summary>
public sealed class PriorityAndSingleActiveConsumerAcrossRestartTests
{
    [Fact]
    public async Task Persistent_messages_of_priority_1_5_3_come_back_after_a_restart_in_order_5_3_1()
    {
        await using var scope = await RestartScope.StartAsync();
        await scope.QueueAsync("pri.q", ("x-max-priority", 5));
        foreach (var priority in new byte[] { 1, 5, 3 })
        {
            await scope.PublishAsync("", "pri.q", $"p{priority}", new BasicProperties { Priority = priority });
        }

        await scope.RestartAsync();
        Assert.Equal(3u, await scope.ReadyAsync("pri.q"));

        var (consumer, _) = await scope.ConsumeAsync("pri.q", autoAck: true);
        var deliveries = await consumer.NextAsync(3);
        Assert.Equal(["p5", "p3", "p1"], deliveries.Select(d => d.Text));
        Assert.Equal([(byte)5, (byte)3, (byte)1], deliveries.Select(d => d.Properties.Priority));
        await Task.Delay(300);
        Assert.False(consumer.TryTake(out _), "a fourth delivery");
    }

    [Fact]
    public async Task After_a_restart_a_single_active_consumer_queue_delivers_only_to_the_first_consumer_until_it_cancels()
    {
        await using var scope = await RestartScope.StartAsync();
        await scope.QueueAsync("sac.q", ("x-single-active-consumer", true));
        foreach (var body in new[] { "m1", "m2", "m3" })
        {
            await scope.PublishAsync("", "sac.q", body);
        }

        await scope.RestartAsync();

        var (first, firstTag) = await scope.ConsumeAsync("sac.q");
        var (second, _) = await scope.ConsumeAsync("sac.q");
        var got = await first.NextAsync(3);
        Assert.Equal(["m1", "m2", "m3"], got.Select(d => d.Text));
        foreach (var delivery in got)
        {
            await first.Channel.BasicAckAsync(delivery.DeliveryTag, multiple: false);
        }

        await scope.PublishAsync("", "sac.q", "m4");
        Assert.Equal("m4", (await first.NextAsync()).Text);
        await Task.Delay(300);
        Assert.Equal(0, second.Received);

        await first.Channel.BasicCancelAsync(firstTag);
        await scope.PublishAsync("", "sac.q", "m5");
        await scope.PublishAsync("", "sac.q", "m6");
        var then = await second.NextAsync(2);
        Assert.Equal(["m5", "m6"], then.Select(d => d.Text));
        await Task.Delay(300);
        Assert.Equal(4, first.Received);
        Assert.Equal(2, second.Received);
    }
}
