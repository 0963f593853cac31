using Holdfast.Broker.Policies;
using Holdfast.Broker.Routing;
using Holdfast.Broker.Topology;
using Holdfast.Testing;

namespace Holdfast.Broker.Tests.Semantics;

/// <summary>RabbitMQ-style policies: set arguments on matching queues and exchanges without code changes, durably, with RabbitMQ's precedence.</summary>
public sealed class PolicyTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task A_policy_applies_to_existing_and_new_matching_queues_and_the_lower_limit_wins()
    {
        await using var harness = await BrokerHarness.StartAsync();
        await harness.DeclareQueueAsync("orders.eu");
        await harness.DeclareQueueAsync("orders.us", true, ("x-max-length", 1));
        await harness.DeclareQueueAsync("billing");
        await harness.Vhost.SetPolicyAsync(new PolicyDefinition("cap", "^orders\\.", PolicyTarget.Queues, 0, new Dictionary<string, object?> { ["max-length"] = 2 }));
        await harness.DeclareQueueAsync("orders.asia");

        var (channel, _) = harness.OpenChannel();
        foreach (var queue in new[] { "orders.eu", "orders.us", "orders.asia", "billing" })
        {
            for (var i = 0; i < 3; i++)
            {
                channel.Publish(BrokerHarness.Message("", queue, $"{queue}-{i}"), mandatory: true);
            }
        }

        // The policy's 2 for the matching queues; orders.us keeps its own lower 1; billing does not match.
        Assert.Equal(2, harness.Vhost.FindQueue("orders.eu")!.ReadyCount);
        Assert.Equal(1, harness.Vhost.FindQueue("orders.us")!.ReadyCount);
        Assert.Equal(2, harness.Vhost.FindQueue("orders.asia")!.ReadyCount);
        Assert.Equal(3, harness.Vhost.FindQueue("billing")!.ReadyCount);

        Assert.True(await harness.Vhost.ClearPolicyAsync("cap"));
        channel.Publish(BrokerHarness.Message("", "orders.eu", "unbounded now"), mandatory: true);
        Assert.Equal(3, harness.Vhost.FindQueue("orders.eu")!.ReadyCount);
    }

    [Fact]
    public async Task The_highest_priority_policy_wins_and_policies_survive_a_restart()
    {
        await using var harness = await BrokerHarness.StartAsync();
        await harness.Vhost.DeclareExchangeAsync(new ExchangeDefinition("dlx", ExchangeKind.Fanout, true, false, false, TopologyArguments.Empty), passive: false);
        await harness.DeclareQueueAsync("dlq");
        await harness.Vhost.BindQueueAsync("dlq", "dlx", "", TopologyArguments.Empty, 1);
        await harness.Vhost.SetPolicyAsync(new PolicyDefinition("weak", ".*", PolicyTarget.All, 1, new Dictionary<string, object?> { ["message-ttl"] = 999_999 }));
        await harness.Vhost.SetPolicyAsync(new PolicyDefinition("strong", "^jobs$", PolicyTarget.Queues, 5, new Dictionary<string, object?> { ["message-ttl"] = 1000, ["dead-letter-exchange"] = "dlx" }));
        await harness.DeclareQueueAsync("jobs");

        await harness.RestartAsync();
        Assert.Equal(["strong", "weak"], harness.Vhost.Policies.Select(p => p.Name).Order());
        harness.OpenChannel().Channel.Publish(BrokerHarness.Message("", "jobs", "short-lived"), mandatory: true);
        harness.Clock.Advance(TimeSpan.FromMilliseconds(1100));
        var dlq = harness.Vhost.FindQueue("dlq")!;
        await Eventually.TrueAsync(() => dlq.ReadyCount == 1, Wait, "the message expired by the strong policy's TTL and dead-lettered by its DLX");
    }

    [Fact]
    public async Task A_policy_can_give_an_exchange_its_alternate_exchange()
    {
        await using var harness = await BrokerHarness.StartAsync();
        await harness.Vhost.DeclareExchangeAsync(new ExchangeDefinition("unrouted", ExchangeKind.Fanout, true, false, false, TopologyArguments.Empty), passive: false);
        await harness.DeclareQueueAsync("lost-and-found");
        await harness.Vhost.BindQueueAsync("lost-and-found", "unrouted", "", TopologyArguments.Empty, 1);
        await harness.Vhost.DeclareExchangeAsync(new ExchangeDefinition("events", ExchangeKind.Topic, true, false, false, TopologyArguments.Empty), passive: false);
        await harness.Vhost.SetPolicyAsync(new PolicyDefinition("ae", "^events$", PolicyTarget.Exchanges, 0, new Dictionary<string, object?> { ["alternate-exchange"] = "unrouted" }));

        var (channel, events) = harness.OpenChannel();
        channel.Publish(BrokerHarness.Message("events", "nobody.listens", "kept"), mandatory: true);
        Assert.Empty(events.Returns);
        Assert.Equal(1, harness.Vhost.FindQueue("lost-and-found")!.ReadyCount);

        await harness.RestartAsync();
        var (after, afterEvents) = harness.OpenChannel();
        after.Publish(BrokerHarness.Message("events", "still.nobody", "kept again"), mandatory: true);
        Assert.Empty(afterEvents.Returns);
        Assert.Equal(2, harness.Vhost.FindQueue("lost-and-found")!.ReadyCount);
    }

    [Fact]
    public async Task An_unknown_policy_key_or_a_bad_pattern_is_refused()
    {
        await using var harness = await BrokerHarness.StartAsync();
        await Assert.ThrowsAsync<ArgumentException>(() => harness.Vhost.SetPolicyAsync(new PolicyDefinition("p", ".*", PolicyTarget.All, 0, new Dictionary<string, object?> { ["no-such-key"] = 1 })));
        await Assert.ThrowsAsync<ArgumentException>(() => harness.Vhost.SetPolicyAsync(new PolicyDefinition("p", "([", PolicyTarget.All, 0, new Dictionary<string, object?> { ["max-length"] = 1 })));
        Assert.Empty(harness.Vhost.Policies);
    }
}
