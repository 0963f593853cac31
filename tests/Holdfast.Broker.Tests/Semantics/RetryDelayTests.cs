using Holdfast.Testing;

namespace Holdfast.Broker.Tests.Semantics;

/// <summary>x-retry-delays: a nacked message comes back after the next delay in the list, the last one repeating, until the delivery limit.</summary>
public sealed class RetryDelayTests
{
    [Fact]
    public async Task A_nacked_message_is_redelivered_after_each_delay_in_turn_and_the_last_delay_repeats()
    {
        await using var harness = await BrokerHarness.StartAsync();
        await harness.DeclareQueueAsync("jobs", true, ("x-retry-delays", new List<object?> { 1000, 5000 }), ("x-delivery-limit", 3));
        var (channel, _) = harness.OpenChannel();
        channel.Publish(BrokerHarness.Message("", "jobs", "flaky"), mandatory: true);
        var jobs = harness.Vhost.FindQueue("jobs")!;

        foreach (var delay in new[] { 1000, 5000, 5000 })
        {
            var got = channel.Get("jobs", noAck: false)!;
            channel.Reject(got.DeliveryTag, multiple: false, requeue: true);
            Assert.Equal(1, jobs.RetryingCount);
            Assert.Null(channel.Get("jobs", noAck: false));

            harness.Clock.Advance(TimeSpan.FromMilliseconds(delay - 1));
            Assert.Equal(0, jobs.ReadyCount);
            harness.Clock.Advance(TimeSpan.FromMilliseconds(2));
            Assert.Equal(1, jobs.ReadyCount);
        }

        // The fourth failure passes the delivery limit of 3: no dead-letter exchange, so it is dropped, not retried.
        var last = channel.Get("jobs", noAck: false)!;
        channel.Reject(last.DeliveryTag, multiple: false, requeue: true);
        Assert.Equal(0, jobs.RetryingCount);
        Assert.Equal(0, jobs.ReadyCount);
    }

    [Fact]
    public async Task A_message_requeued_by_a_closing_channel_is_not_delayed()
    {
        await using var harness = await BrokerHarness.StartAsync();
        await harness.DeclareQueueAsync("jobs", true, ("x-retry-delays", new List<object?> { 60_000 }));
        var (channel, _) = harness.OpenChannel();
        channel.Publish(BrokerHarness.Message("", "jobs", "in flight"), mandatory: true);
        Assert.NotNull(channel.Get("jobs", noAck: false));

        // Closing a channel is not a failure of the message: it goes straight back.
        channel.Close();
        await Eventually.TrueAsync(() => harness.Vhost.FindQueue("jobs")!.ReadyCount == 1, TimeSpan.FromSeconds(5), "the message back at once");
    }

    [Fact]
    public async Task The_back_off_schedule_survives_a_restart()
    {
        await using var harness = await BrokerHarness.StartAsync();
        await harness.DeclareQueueAsync("jobs", true, ("x-retry-delays", new List<object?> { 60_000 }));
        var (channel, _) = harness.OpenChannel();
        channel.Publish(BrokerHarness.Message("", "jobs", "flaky"), mandatory: true);
        var got = channel.Get("jobs", noAck: false)!;
        channel.Reject(got.DeliveryTag, multiple: false, requeue: true);
        await Eventually.TrueAsync(() => harness.Broker.Store.HasMetadata(Topology.TopologyFormat.RetryKey("/", "jobs", 0)), TimeSpan.FromSeconds(5), "the retry recorded");
        harness.Clock.Advance(TimeSpan.FromSeconds(30));

        await harness.RestartAsync();
        var jobs = harness.Vhost.FindQueue("jobs")!;
        Assert.Equal(1, jobs.RetryingCount);
        Assert.Equal(0, jobs.ReadyCount);
        harness.Clock.Advance(TimeSpan.FromSeconds(29));
        Assert.Equal(0, jobs.ReadyCount);

        harness.Clock.Advance(TimeSpan.FromSeconds(2));
        Assert.Equal(1, jobs.ReadyCount);
        await Eventually.TrueAsync(() => !harness.Broker.Store.HasMetadata(Topology.TopologyFormat.RetryKey("/", "jobs", 0)), TimeSpan.FromSeconds(5), "the retry record removed once the message is ready");
    }
}
