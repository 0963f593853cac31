using Holdfast.Broker.Messages;

namespace Holdfast.Broker.Tests.Semantics;

/// <summary>x-max-priority orders by priority then arrival; x-single-active-consumer feeds one consumer at a time.</summary>
public sealed class PriorityAndSingleActiveConsumerTests
{
    [Fact]
    public async Task A_priority_queue_serves_higher_priorities_first_and_arrival_order_within_one_and_keeps_it_across_a_restart()
    {
        await using var harness = await BrokerHarness.StartAsync();
        await harness.DeclareQueueAsync("jobs", true, ("x-max-priority", 5));
        var (channel, _) = harness.OpenChannel();
        foreach (var (body, priority) in new[] { ("low-1", 1), ("none", -1), ("high-1", 9), ("mid", 3), ("high-2", 5), ("low-2", 1) })
        {
            var message = BrokerHarness.Message("", "jobs", body);
            if (priority >= 0)
            {
                message = message with { Properties = message.Properties with { Priority = (byte)priority } };
            }

            channel.Publish(message, mandatory: true);
        }

        // 9 is capped at the queue's maximum, 5, so it ties with "high-2" and arrival decides.
        string[] expected = ["high-1", "high-2", "mid", "low-1", "low-2", "none"];
        Assert.Equal(expected[0], Body(channel.Get("jobs", noAck: false)!.Message));

        // A requeued message goes back among its priority, not to the end.
        channel.Recover();
        await harness.RestartAsync();
        var (after, _) = harness.OpenChannel();
        var order = new List<string>();
        while (after.Get("jobs", noAck: true) is { } got)
        {
            order.Add(Body(got.Message));
        }

        Assert.Equal(expected, order);
    }

    [Fact]
    public async Task A_single_active_consumer_queue_feeds_only_the_first_consumer_until_it_goes()
    {
        await using var harness = await BrokerHarness.StartAsync();
        await harness.DeclareQueueAsync("ordered", true, ("x-single-active-consumer", true));
        var (first, firstEvents) = harness.OpenChannel();
        var (second, secondEvents) = harness.OpenChannel(connectionId: 2);
        first.Consume("ordered", "a", noAck: true, exclusive: false, _ => { });
        second.Consume("ordered", "b", noAck: true, exclusive: false, _ => { });

        for (var i = 0; i < 4; i++)
        {
            first.Publish(BrokerHarness.Message("", "ordered", $"m{i}"), mandatory: true);
        }

        Assert.Equal(4, firstEvents.Deliveries.Count);
        Assert.Empty(secondEvents.Deliveries);

        first.Cancel("a");
        first.Publish(BrokerHarness.Message("", "ordered", "m4"), mandatory: true);
        Assert.Equal(["m4"], secondEvents.Deliveries.Select(d => Body(d.Message)));
    }

    private static string Body(BrokerMessage message) => System.Text.Encoding.UTF8.GetString(message.Body.Span);
}
