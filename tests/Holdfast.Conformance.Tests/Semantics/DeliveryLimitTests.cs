using Holdfast.Conformance.Tests.Broker;
using RabbitMQ.Client;

namespace Holdfast.Conformance.Tests.Semantics;

/// <summary>
/// <c>x-delivery-limit</c>: in RabbitMQ a quorum-queue feature (poison message handling); Holdfast supports it on every
/// queue and accepts <c>x-queue-type: quorum</c> without changing anything else.
/// </summary>
public sealed class DeliveryLimitTests
{
    [Fact]
    public async Task Quorum_queue_delivery_limit_dead_letters_after_the_limit_with_reason_delivery_limit()
    {
        await using var scope = await SemanticsScope.StartAsync();
        var dlx = await scope.ExchangeAsync("dlim-dlx", ExchangeType.Fanout);
        var dlq = await scope.BoundQueueAsync("dlim-dlq", dlx);
        var queue = await scope.QuorumQueueAsync("dlim-qq", ("x-delivery-limit", 2), ("x-dead-letter-exchange", dlx));
        var dead = await scope.ConsumeAsync(dlq);
        var worker = await scope.ConsumeAsync(queue, prefetch: 1);

        var before = DateTimeOffset.UtcNow;
        await scope.PublishAsync("", queue, "poison", new BasicProperties { Persistent = true });

        // Delivered once plus once per allowed return; every redelivery says how many times it came back.
        var counts = new List<long?>();
        var redelivered = new List<bool>();
        for (var i = 0; i < 3; i++)
        {
            var delivery = await worker.NextAsync();
            Assert.Equal("poison", delivery.Text);
            counts.Add(Deaths.DeliveryCount(delivery));
            redelivered.Add(delivery.Redelivered);
            await worker.Channel.BasicNackAsync(delivery.DeliveryTag, multiple: false, requeue: true);
        }

        Assert.Equal([null, 1L, 2L], counts);
        Assert.Equal([false, true, true], redelivered);

        var letter = await dead.NextAsync();
        Assert.Equal("poison", letter.Text);
        Assert.Equal((dlx, queue), (letter.Exchange, letter.RoutingKey));
        Deaths.AssertEntry(Assert.Single(Deaths.XDeath(letter)), 1, "delivery_limit", queue, "", [queue], null, before, DateTimeOffset.UtcNow);
        Deaths.AssertFirstAndLast(scope.Connection, letter, ("delivery_limit", queue, ""), ("delivery_limit", queue, ""));

        await Task.Delay(300);
        Assert.False(worker.TryTake(out var extra), $"delivered again past the limit (x-delivery-count {(extra is null ? null : Deaths.DeliveryCount(extra))})");
        Assert.Equal(0u, await scope.ReadyAsync(queue));
    }

    [Fact]
    public async Task Quorum_queue_basic_get_carries_x_delivery_count_as_a_long_from_zero_counting_nacks_and_rejects()
    {
        await using var scope = await SemanticsScope.StartAsync();
        var queue = await scope.QuorumQueueAsync("dcount-qq");
        await scope.PublishAsync("", queue, "counted", new BasicProperties { Persistent = true });

        // Unlike basic.deliver to a consumer, RabbitMQ's basic.get-ok from a quorum queue says 0 on the first delivery.
        var first = await scope.Setup.BasicGetAsync(queue, autoAck: false);
        Assert.NotNull(first);
        Assert.False(first.Redelivered);
        Assert.Equal(0L, Assert.IsType<long>(first.BasicProperties.Headers?["x-delivery-count"]));
        await scope.Setup.BasicNackAsync(first.DeliveryTag, multiple: false, requeue: true);

        var second = await scope.Setup.BasicGetAsync(queue, autoAck: false);
        Assert.NotNull(second);
        Assert.True(second.Redelivered);
        Assert.Equal(1L, Assert.IsType<long>(second.BasicProperties.Headers!["x-delivery-count"]));
        await scope.Setup.BasicRejectAsync(second.DeliveryTag, requeue: true);

        var third = await scope.Setup.BasicGetAsync(queue, autoAck: true);
        Assert.NotNull(third);
        Assert.True(third.Redelivered);
        Assert.Equal(2L, Assert.IsType<long>(third.BasicProperties.Headers!["x-delivery-count"]));
    }

    [Fact]
    public async Task Classic_queue_delivery_limit_is_refused_by_RabbitMQ_and_enforced_by_Holdfast()
    {
        await using var scope = await SemanticsScope.StartAsync();
        var dlx = await scope.ExchangeAsync("cdlim-dlx", ExchangeType.Fanout);
        var dlq = await scope.BoundQueueAsync("cdlim-dlq", dlx);
        if (scope.IsRabbitMq)
        {
            // RabbitMQ has delivery limits on quorum queues only, and refuses the argument on a classic queue.
            await using var channel = await scope.Connection.CreateChannelAsync();
            var refused = BrokerKit.Unique("cdlim-classic");
            await BrokerKit.RefusedAsync(
                () => channel.QueueDeclareAsync(refused, durable: false, exclusive: false, autoDelete: false, arguments: SemanticsScope.Arguments(("x-delivery-limit", 1), ("x-dead-letter-exchange", dlx))),
                406,
                $"PRECONDITION_FAILED - invalid arg 'x-delivery-limit' for queue '{refused}' in vhost '/' of queue type rabbit_classic_queue");
            return;
        }

        // Holdfast enforces it on every queue: one return allowed, the second dead-letters.
        var queue = await scope.QueueAsync("cdlim-classic", ("x-delivery-limit", 1), ("x-dead-letter-exchange", dlx));
        var worker = await scope.ConsumeAsync(queue, prefetch: 1);
        var dead = await scope.ConsumeAsync(dlq);
        var before = DateTimeOffset.UtcNow;
        await scope.PublishAsync("", queue, "returned");
        var counts = new List<long?>();
        for (var i = 0; i < 2; i++)
        {
            var delivery = await worker.NextAsync();
            counts.Add(Deaths.DeliveryCount(delivery));
            await worker.Channel.BasicNackAsync(delivery.DeliveryTag, multiple: false, requeue: true);
        }

        Assert.Equal([null, 1L], counts);
        var letter = await dead.NextAsync();
        Assert.Equal("returned", letter.Text);
        Deaths.AssertEntry(Assert.Single(Deaths.XDeath(letter)), 1, "delivery_limit", queue, "", [queue], null, before, DateTimeOffset.UtcNow);
        await Task.Delay(200);
        Assert.False(worker.TryTake(out _));
    }
}
