using RabbitMQ.Client;

namespace Holdfast.Conformance.Tests.Semantics.Restart;

/// <summary>Requeues are journalled, so x-delivery-count survives a restart.</summary>
public sealed class DeliveryCountAcrossRestartTests
{
    [Fact]
    public async Task Two_nack_requeues_then_a_restart_deliver_with_x_delivery_count_2_and_redelivered()
    {
        await using var scope = await RestartScope.StartAsync();
        await scope.QueueAsync("dc.q");
        await scope.PublishAsync("", "dc.q", "counted");

        var first = await scope.Setup.BasicGetAsync("dc.q", autoAck: false);
        Assert.NotNull(first);
        Assert.False(first.Redelivered);
        await scope.Setup.BasicNackAsync(first.DeliveryTag, multiple: false, requeue: true);

        var second = await scope.Setup.BasicGetAsync("dc.q", autoAck: false);
        Assert.NotNull(second);
        Assert.Equal("counted", BrokerText(second.Body));
        Assert.True(second.Redelivered);
        Assert.Equal(1L, RestartScope.DeliveryCount(second.BasicProperties));
        await scope.Setup.BasicNackAsync(second.DeliveryTag, multiple: false, requeue: true);
        Assert.Equal(1u, await scope.ReadyAsync("dc.q"));

        await scope.RestartAsync();

        var (consumer, _) = await scope.ConsumeAsync("dc.q");
        var delivery = await consumer.NextAsync();
        Assert.Equal("counted", delivery.Text);
        Assert.Equal(2L, Deaths.DeliveryCount(delivery));
        Assert.True(delivery.Redelivered);
        await consumer.Channel.BasicAckAsync(delivery.DeliveryTag, multiple: false);

        await Task.Delay(300);
        Assert.False(consumer.TryTake(out _), "delivered twice");
        Assert.Equal(0u, await scope.ReadyAsync("dc.q"));
    }

    private static string BrokerText(ReadOnlyMemory<byte> body) => System.Text.Encoding.UTF8.GetString(body.Span);
}
