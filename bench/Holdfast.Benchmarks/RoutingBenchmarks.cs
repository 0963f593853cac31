using BenchmarkDotNet.Attributes;
using Holdfast.Broker.Messages;
using Holdfast.Broker.Routing;

namespace Holdfast.Benchmarks;

/// <summary>
/// Routing one publish against an immutable table, as the publish path does: a direct exchange, a
/// topic exchange with 10,000 bindings, and a headers exchange. The result object is reused per
/// publisher, so a warm route should allocate nothing.
/// </summary>
[MemoryDiagnoser]
public class RoutingBenchmarks
{
    private readonly RouteResult _result = new();
    private RoutingTable _table = RoutingTable.Empty;
    private MessageHeaders _headers = MessageHeaders.Empty;

    [GlobalSetup]
    public void Setup()
    {
        var direct = ExchangeRoutes.Create("direct", ExchangeKind.Direct);
        for (var i = 0; i < 1000; i++)
        {
            direct = direct.WithBinding(new Binding(Destination.Queue($"q{i}"), $"key.{i}"));
        }

        // 10,000 topic bindings: region.service.event patterns with wildcards, as a busy event bus has.
        var topic = ExchangeRoutes.Create("topic", ExchangeKind.Topic);
        for (var i = 0; i < 10_000; i++)
        {
            var pattern = (i % 4) switch
            {
                0 => $"eu.svc{i % 500}.created",
                1 => $"*.svc{i % 500}.updated",
                2 => $"us.svc{i % 500}.#",
                _ => $"#.deleted.n{i}",
            };
            topic = topic.WithBinding(new Binding(Destination.Queue($"t{i}"), pattern));
        }

        var headers = ExchangeRoutes.Create("headers", ExchangeKind.Headers);
        for (var i = 0; i < 100; i++)
        {
            headers = headers.WithBinding(new Binding(Destination.Queue($"h{i}"), string.Empty, new Dictionary<string, object?>
            {
                ["x-match"] = new TextValue(i % 2 == 0 ? "all" : "any"),
                ["format"] = new TextValue(i % 3 == 0 ? "pdf" : "csv"),
                ["tenant"] = i % 10,
            }));
        }

        _table = RoutingTable.Empty.WithExchange(direct).WithExchange(topic).WithExchange(headers);
        _headers = new MessageHeaders([new("format", new TextValue("pdf")), new("tenant", 3)]);
    }

    [Benchmark]
    public int Direct()
    {
        _table.Route("direct", "key.500", null, _result);
        return _result.Queues.Count;
    }

    [Benchmark]
    public int Topic10000Bindings()
    {
        _table.Route("topic", "eu.svc42.created", null, _result);
        return _result.Queues.Count;
    }

    [Benchmark]
    public int Headers100Bindings()
    {
        _table.Route("headers", string.Empty, _headers, _result);
        return _result.Queues.Count;
    }
}
