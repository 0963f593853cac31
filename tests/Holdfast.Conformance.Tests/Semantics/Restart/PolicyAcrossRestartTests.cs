using Holdfast.Broker.Policies;

namespace Holdfast.Conformance.Tests.Semantics.Restart;

/// <summary>Policies are stored as metadata: a max-length policy still applies to a matching durable queue after a restart.</summary>
public sealed class PolicyAcrossRestartTests
{
    [Fact]
    public async Task A_max_length_2_policy_limits_a_matching_durable_queue_before_and_after_a_restart()
    {
        await using var scope = await RestartScope.StartAsync();
        await scope.VirtualHost.SetPolicyAsync(
            new PolicyDefinition("p", "^pol\\.", PolicyTarget.Queues, 0, new Dictionary<string, object?> { ["max-length"] = 2 }));
        await scope.QueueAsync("pol.q");
        await scope.QueueAsync("nopol.q");

        foreach (var body in new[] { "a1", "a2", "a3" })
        {
            await scope.PublishAsync("", "pol.q", body);
            await scope.PublishAsync("", "nopol.q", body);
        }

        Assert.Equal(2u, await scope.ReadyAsync("pol.q"));
        Assert.Equal(3u, await scope.ReadyAsync("nopol.q"));
        Assert.Equal(["a2", "a3"], await DrainAsync(scope, "pol.q"));

        await scope.RestartAsync();

        foreach (var body in new[] { "b1", "b2", "b3" })
        {
            await scope.PublishAsync("", "pol.q", body);
        }

        Assert.Equal(2u, await scope.ReadyAsync("pol.q"));
        Assert.Equal(["b2", "b3"], await DrainAsync(scope, "pol.q"));
        Assert.Equal(3u, await scope.ReadyAsync("nopol.q"));
    }

    private static async Task<List<string>> DrainAsync(RestartScope scope, string queue)
    {
        var bodies = new List<string>();
        while (await scope.Setup.BasicGetAsync(queue, autoAck: true) is { } got)
        {
            bodies.Add(System.Text.Encoding.UTF8.GetString(got.Body.Span));
        }

        return bodies;
    }
}
