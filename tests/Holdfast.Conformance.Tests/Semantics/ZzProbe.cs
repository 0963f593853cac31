using Holdfast.Conformance.Tests.Broker;
using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;

namespace Holdfast.Conformance.Tests.Semantics;

public sealed class ZzProbe
{
    private static string Show(object? v) => v switch
    {
        null => "null",
        byte[] b => $"byte[]\"{System.Text.Encoding.UTF8.GetString(b)}\"",
        List<object> l => "List[" + string.Join(", ", l.Select(Show)) + "]",
        Dictionary<string, object?> d => "Dict{" + string.Join(", ", d.Select(kv => kv.Key + "=" + Show(kv.Value))) + "}",
        AmqpTimestamp t => $"AmqpTimestamp({t.UnixTime})",
        _ => $"{v.GetType().Name}({v})",
    };

    private static async Task<string> Declare(SemanticsScope scope, string name, bool durable, params (string, object)[] args)
    {
        await using var ch = await scope.Connection.CreateChannelAsync();
        try
        {
            await ch.QueueDeclareAsync(name, durable, false, false, SemanticsScope.Arguments(args));
            await ch.QueueDeleteAsync(name);
            return "ok";
        }
        catch (Exception e) when (Support.Exceptions.Find<OperationInterruptedException>(e) is { } oi)
        {
            return $"{oi.ShutdownReason!.ReplyCode} {oi.ShutdownReason.ReplyText}";
        }
    }

    [Fact]
    public async Task Probe()
    {
        await using var scope = await SemanticsScope.StartAsync();
        var lines = new List<string>();
        foreach (var (args, durable) in new (ValueTuple<string, object>[], bool)[]
        {
            ([("x-max-length", "abc")], false),
            ([("x-message-ttl", "abc")], false),
            ([("x-overflow", "bogus")], false),
            ([("x-overflow", 5)], false),
            ([("x-delivery-limit", -1), ("x-queue-type", "quorum")], true),
            ([("x-delivery-limit", "abc"), ("x-queue-type", "quorum")], true),
            ([("x-delivery-limit", 2)], false),
            ([("x-dead-letter-strategy", "bogus")], false),
            ([("x-dead-letter-strategy", "at-least-once")], false),
            ([("x-dead-letter-exchange", 5)], false),
            ([("x-message-ttl", 4294967296L)], false),
            ([("x-expires", -1)], false),
            ([("x-queue-type", "bogus")], false),
        })
        {
            lines.Add(string.Join(",", args.Select(a => a.Item1 + "=" + Show(a.Item2))) + " -> " + await Declare(scope, BrokerKit.Unique("p"), durable, args));
        }

        var q1 = await scope.QueueAsync("cc1");
        var q2 = await scope.QueueAsync("cc2");
        await scope.PublishAsync("", q1, "cc", new BasicProperties { Headers = new Dictionary<string, object?> { ["CC"] = new List<object?> { q2 } } });
        await Task.Delay(200);
        lines.Add($"plain publish with CC: q1={await scope.ReadyAsync(q1)} q2(cc)={await scope.ReadyAsync(q2)}");
        var q = await scope.QuorumQueueAsync("probe-qq");
        await scope.PublishAsync("", q, "x", new BasicProperties { Persistent = true });
        var g1 = await scope.Setup.BasicGetAsync(q, false);
        lines.Add("qq get1 headers: " + Show(g1!.BasicProperties.Headers is null ? null : new Dictionary<string, object?>(g1.BasicProperties.Headers)) + " redelivered " + g1.Redelivered);
        await scope.Setup.BasicNackAsync(g1.DeliveryTag, false, true);
        var g2 = await scope.Setup.BasicGetAsync(q, false);
        lines.Add("qq get2 headers: " + Show(new Dictionary<string, object?>(g2!.BasicProperties.Headers!)) + " redelivered " + g2.Redelivered);
        await scope.Setup.BasicRejectAsync(g2.DeliveryTag, true);
        var g3 = await scope.Setup.BasicGetAsync(q, true);
        lines.Add("qq get3 headers: " + Show(new Dictionary<string, object?>(g3!.BasicProperties.Headers!)) + " redelivered " + g3.Redelivered);

        await File.WriteAllLinesAsync("/tmp/semprobe/" + (scope.IsRabbitMq ? "rabbit" : "holdfast") + ".txt", lines);
    }
}
