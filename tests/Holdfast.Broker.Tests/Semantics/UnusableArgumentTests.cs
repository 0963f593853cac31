using System.Collections.Concurrent;
using Holdfast.Broker.Monitoring;
using Holdfast.Broker.Policies;
using Holdfast.Broker.Topology;
using Holdfast.Broker.Routing;
using Holdfast.Storage;
using Holdfast.Testing;

namespace Holdfast.Broker.Tests.Semantics;

/// <summary>
/// A queue argument the broker cannot use must be refused where it is given (a declare, a policy), and a
/// queue that has one anyway (stored by an older version) must still come back at start-up with its messages.
/// </summary>
public sealed class UnusableArgumentTests
{
    private static readonly string LongKey = new('k', 256);

    [Theory]
    [InlineData("dead-letter-routing-key", true)]
    [InlineData("dead-letter-routing-key", false)]
    [InlineData("dead-letter-exchange", false)]
    [InlineData("message-ttl", true)]
    public async Task A_policy_with_a_value_no_queue_can_use_is_refused_when_set(string key, bool withExchange)
    {
        await using var harness = await BrokerHarness.StartAsync();
        var definition = withExchange ? new Dictionary<string, object?> { ["dead-letter-exchange"] = "dlx" } : [];
        definition[key] = key == "message-ttl" ? "soon" : LongKey;

        var refused = await Assert.ThrowsAsync<ArgumentException>(() => harness.Vhost.SetPolicyAsync(new PolicyDefinition("bad", "^q", PolicyTarget.Queues, 0, definition)));
        Assert.Contains("policy 'bad'", refused.Message, StringComparison.Ordinal);
        Assert.Contains("x-" + key, refused.Message, StringComparison.Ordinal);
        Assert.Empty(harness.Vhost.Policies);

        // A queue the policy would have matched is declared and runs as usual.
        await harness.DeclareQueueAsync("q1");
        harness.OpenChannel().Channel.Publish(BrokerHarness.Message("", "q1", "one"), mandatory: true);
        Assert.Equal(1, harness.Vhost.FindQueue("q1")!.ReadyCount);
    }

    [Fact]
    public async Task A_policy_may_give_only_the_dead_letter_routing_key_to_queues_that_have_their_own_exchange()
    {
        await using var harness = await BrokerHarness.StartAsync();
        await harness.Vhost.DeclareExchangeAsync(new ExchangeDefinition("dlx", ExchangeKind.Direct, true, false, false, TopologyArguments.Empty), passive: false);
        await harness.DeclareQueueAsync("dlq");
        await harness.Vhost.BindQueueAsync("dlq", "dlx", "expired", TopologyArguments.Empty, 1);

        // As RabbitMQ takes it: the key alone is no error, it meets each queue's own dead-letter exchange.
        await harness.Vhost.SetPolicyAsync(new PolicyDefinition("rk", "^jobs", PolicyTarget.Queues, 0, new Dictionary<string, object?> { ["dead-letter-routing-key"] = "expired" }));
        await harness.DeclareQueueAsync("jobs.dl", true, ("x-dead-letter-exchange", "dlx"), ("x-message-ttl", 1000));
        await harness.DeclareQueueAsync("jobs.plain");

        var observer = new IgnoredArguments();
        harness.Observer = observer;
        await harness.RestartAsync();
        Assert.Empty(observer.Reports);

        var (channel, _) = harness.OpenChannel();
        channel.Publish(BrokerHarness.Message("", "jobs.dl", "short-lived"), mandatory: true);
        channel.Publish(BrokerHarness.Message("", "jobs.plain", "kept"), mandatory: true);
        harness.Clock.Advance(TimeSpan.FromMilliseconds(1100));
        await Eventually.TrueAsync(() => harness.Vhost.FindQueue("dlq")!.ReadyCount == 1, TimeSpan.FromSeconds(10), "the expired message dead-lettered with the policy's routing key");
        Assert.Equal(1, harness.Vhost.FindQueue("jobs.plain")!.ReadyCount);
    }

    [Fact]
    public async Task A_queue_stored_with_an_argument_it_cannot_use_comes_back_without_it_and_keeps_its_messages()
    {
        await using var harness = await BrokerHarness.StartAsync();
        await harness.DeclareQueueAsync("legacy", true, ("x-max-length", 100));
        var (channel, _) = harness.OpenChannel();
        for (var i = 0; i < 3; i++)
        {
            channel.Publish(BrokerHarness.Message("", "legacy", $"m{i}"), mandatory: true);
        }

        // What a version that accepted a 256-byte dead-letter routing key would have written down.
        var stored = new QueueDefinition("legacy", true, false, false, new Dictionary<string, object?>
        {
            ["x-max-length"] = 100,
            ["x-dead-letter-exchange"] = "dlx",
            ["x-dead-letter-routing-key"] = LongKey,
        });
        await harness.Store.PutMetadataAsync(TopologyFormat.QueueKey("/", "legacy"), TopologyFormat.Encode(stored), FlushPolicy.Sync);

        var observer = new IgnoredArguments();
        harness.Observer = observer;
        await harness.RestartAsync();

        var queue = harness.Vhost.FindQueue("legacy")!;
        Assert.Equal(3, queue.ReadyCount);
        Assert.Equal(100, queue.Limits.MaxLength);
        Assert.Equal("dlx", queue.Settings.DeadLetterExchange);
        Assert.Null(queue.Settings.DeadLetterRoutingKey);
        var (vhost, name, why) = Assert.Single(observer.Reports);
        Assert.Equal(("/", "legacy"), (vhost, name));
        Assert.Contains("left out: x-dead-letter-routing-key", why, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_queue_restored_without_an_unusable_argument_still_follows_policies_set_and_cleared_later()
    {
        await using var harness = await BrokerHarness.StartAsync();
        await harness.DeclareQueueAsync("legacy", true);
        await harness.Vhost.SetPolicyAsync(new PolicyDefinition("ttl", "^legacy$", PolicyTarget.Queues, 0, new Dictionary<string, object?> { ["message-ttl"] = 1000L }));
        var stored = new QueueDefinition("legacy", true, false, false, new Dictionary<string, object?> { ["x-dead-letter-exchange"] = new string('x', 256) });
        await harness.Store.PutMetadataAsync(TopologyFormat.QueueKey("/", "legacy"), TopologyFormat.Encode(stored), FlushPolicy.Sync);
        await harness.RestartAsync();
        Assert.Equal(1000L, harness.Vhost.FindQueue("legacy")!.Settings.MessageTtlMs);

        Assert.True(await harness.Vhost.ClearPolicyAsync("ttl"));
        Assert.Null(harness.Vhost.FindQueue("legacy")!.Settings.MessageTtlMs);

        await harness.Vhost.SetPolicyAsync(new PolicyDefinition("cap", "^legacy$", PolicyTarget.Queues, 0, new Dictionary<string, object?> { ["max-length"] = 10L }));
        Assert.Equal(10L, harness.Vhost.FindQueue("legacy")!.Limits.MaxLength);
    }

    private sealed class IgnoredArguments : IBrokerObserver
    {
        public ConcurrentQueue<(string VirtualHost, string Queue, string Why)> Reports { get; } = new();

        public void ArgumentsIgnored(string virtualHost, string queue, string why) => Reports.Enqueue((virtualHost, queue, why));

        public void DeadLetterKept(string virtualHost, string queue, string reason, string why)
        {
        }

        public void DelayedReleaseRefused(string virtualHost, string exchange, string routingKey)
        {
        }

        public void DeliveryFailed(string virtualHost, string queue, string consumerTag, Exception exception)
        {
        }

        public void GetFailed(string virtualHost, string queue, Exception exception)
        {
        }

        public void ReturnFailed(string virtualHost, string exchange, string routingKey, Exception exception)
        {
        }
    }
}
