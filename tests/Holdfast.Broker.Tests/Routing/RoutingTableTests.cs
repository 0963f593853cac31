using Holdfast.Broker.Messages;
using Holdfast.Broker.Routing;

namespace Holdfast.Broker.Tests.Routing;

public sealed class RoutingTableTests
{
    private static List<string> Route(RoutingTable table, string exchange, string key, IMessageHeaders? headers = null)
    {
        var result = new RouteResult();
        table.Route(exchange, key, headers, result);
        return [.. result.Queues.Order(StringComparer.Ordinal)];
    }

    private static RoutingTable Table(ExchangeKind kind, params (string Queue, string Key)[] bindings)
    {
        var routes = ExchangeRoutes.Create("x", kind);
        foreach (var (queue, key) in bindings)
        {
            routes = routes.WithBinding(new Binding(Destination.Queue(queue), key));
        }

        return RoutingTable.Empty.WithExchange(routes);
    }

    [Fact]
    public void Direct_routes_on_exact_key_only()
    {
        var table = Table(ExchangeKind.Direct, ("q1", "a"), ("q2", "a"), ("q3", "b"));
        Assert.Equal(["q1", "q2"], Route(table, "x", "a"));
        Assert.Equal(["q3"], Route(table, "x", "b"));
        Assert.Empty(Route(table, "x", "A"));
    }

    [Fact]
    public void Fanout_ignores_the_key()
    {
        var table = Table(ExchangeKind.Fanout, ("q1", "a"), ("q2", ""));
        Assert.Equal(["q1", "q2"], Route(table, "x", "anything"));
    }

    [Theory]
    [InlineData("a.b.c", "a.b.c", true)]
    [InlineData("a.*.c", "a.b.c", true)]
    [InlineData("a.*.c", "a.c", false)]
    [InlineData("a.*", "a.b.c", false)]
    [InlineData("a.#", "a", true)]
    [InlineData("a.#", "a.b.c", true)]
    [InlineData("#", "", true)]
    [InlineData("#", "a.b", true)]
    [InlineData("#.c", "c", true)]
    [InlineData("#.c", "a.b.c", true)]
    [InlineData("#.c", "a.b.d", false)]
    [InlineData("a.#.c", "a.c", true)]
    [InlineData("a.#.c", "a.x.y.c", true)]
    [InlineData("*", "", false)]
    [InlineData("*", "a", true)]
    [InlineData("", "", true)]
    [InlineData("", "a", false)]
    [InlineData("*.#", "a", true)]
    [InlineData("#.*", "", false)]
    [InlineData("a..b", "a..b", true)]
    [InlineData("a.*.b", "a..b", true)]
    public void Topic_wildcards_match_as_RabbitMQ_documents(string bindingKey, string routingKey, bool matches)
    {
        var table = Table(ExchangeKind.Topic, ("q", bindingKey));
        Assert.Equal(matches, Route(table, "x", routingKey).Count == 1);
    }

    [Fact]
    public void Topic_matches_a_reference_matcher_on_random_keys()
    {
        var random = new Random(20261125);
        string[] words = ["a", "b", "c", "*", "#"];
        for (var round = 0; round < 300; round++)
        {
            var bindings = Enumerable.Range(0, 8).Select(i => ($"q{i}", RandomKey(random, words, allowWildcards: true))).ToArray();
            var table = Table(ExchangeKind.Topic, bindings);
            for (var probe = 0; probe < 20; probe++)
            {
                var key = RandomKey(random, words, allowWildcards: false);
                var expected = bindings.Where(b => ReferenceMatch(b.Item2.Length == 0 ? [] : b.Item2.Split('.'), key.Length == 0 ? [] : key.Split('.'))).Select(b => b.Item1).Distinct().Order(StringComparer.Ordinal).ToList();
                Assert.True(expected.SequenceEqual(Route(table, "x", key)), $"round {round}: key '{key}' bindings {string.Join(", ", bindings)}");
            }
        }
    }

    [Fact]
    public void Topic_with_ten_thousand_bindings_routes_each_key_to_its_queue()
    {
        var routes = ExchangeRoutes.Create("x", ExchangeKind.Topic);
        for (var i = 0; i < 10_000; i++)
        {
            routes = routes.WithBinding(new Binding(Destination.Queue($"q{i}"), $"stock.{i}.*"));
        }

        routes = routes.WithBinding(new Binding(Destination.Queue("all"), "stock.#"));
        var table = RoutingTable.Empty.WithExchange(routes);
        Assert.Equal(["all", "q4242"], Route(table, "x", "stock.4242.nyse"));
        Assert.Equal(["all"], Route(table, "x", "stock.4242"));
    }

    [Fact]
    public void Unbinding_removes_only_that_binding()
    {
        var routes = ExchangeRoutes.Create("x", ExchangeKind.Topic)
            .WithBinding(new Binding(Destination.Queue("q"), "a.*"))
            .WithBinding(new Binding(Destination.Queue("q"), "a.b"))
            .WithBinding(new Binding(Destination.Queue("r"), "a.*"));
        var table = RoutingTable.Empty.WithExchange(routes.WithoutBinding(new Binding(Destination.Queue("q"), "a.*")));
        Assert.Equal(["q", "r"], Route(table, "x", "a.b"));
        Assert.Equal(["r"], Route(table, "x", "a.c"));
    }

    [Fact]
    public void Same_destination_and_key_with_different_arguments_stays_routed_until_both_are_unbound()
    {
        var one = new Binding(Destination.Queue("q"), "k", new Dictionary<string, object?> { ["v"] = 1 });
        var two = new Binding(Destination.Queue("q"), "k", new Dictionary<string, object?> { ["v"] = 2 });
        var routes = ExchangeRoutes.Create("x", ExchangeKind.Direct).WithBinding(one).WithBinding(two);
        Assert.Equal(["q"], Route(RoutingTable.Empty.WithExchange(routes.WithoutBinding(one)), "x", "k"));
        Assert.Empty(Route(RoutingTable.Empty.WithExchange(routes.WithoutBinding(one).WithoutBinding(two)), "x", "k"));
    }

    [Fact]
    public void Exchange_to_exchange_bindings_are_followed_and_cycles_end()
    {
        var table = RoutingTable.Empty
            .WithExchange(ExchangeRoutes.Create("a", ExchangeKind.Fanout)
                .WithBinding(new Binding(Destination.Exchange("b"), ""))
                .WithBinding(new Binding(Destination.Queue("qa"), "")))
            .WithExchange(ExchangeRoutes.Create("b", ExchangeKind.Direct)
                .WithBinding(new Binding(Destination.Exchange("a"), "k"))
                .WithBinding(new Binding(Destination.Queue("qb"), "k"))
                .WithBinding(new Binding(Destination.Queue("qa"), "k")));
        Assert.Equal(["qa", "qb"], Route(table, "a", "k"));
        Assert.Equal(["qa"], Route(table, "a", "other"));
    }

    [Fact]
    public void Alternate_exchange_receives_what_the_bindings_do_not_match()
    {
        var table = RoutingTable.Empty
            .WithExchange(ExchangeRoutes.Create("main", ExchangeKind.Direct, alternateExchange: "ae")
                .WithBinding(new Binding(Destination.Queue("orders"), "order")))
            .WithExchange(ExchangeRoutes.Create("ae", ExchangeKind.Fanout, alternateExchange: "main")
                .WithBinding(new Binding(Destination.Queue("unrouted"), "")));
        Assert.Equal(["orders"], Route(table, "main", "order"));
        Assert.Equal(["unrouted"], Route(table, "main", "other"));
    }

    [Fact]
    public void Alternate_exchange_cycle_without_bindings_ends_unrouted()
    {
        var table = RoutingTable.Empty
            .WithExchange(ExchangeRoutes.Create("a", ExchangeKind.Direct, alternateExchange: "b"))
            .WithExchange(ExchangeRoutes.Create("b", ExchangeKind.Direct, alternateExchange: "a"));
        Assert.Empty(Route(table, "a", "k"));
    }

    [Fact]
    public void Deleting_a_queue_or_exchange_removes_the_bindings_to_it()
    {
        var table = RoutingTable.Empty
            .WithExchange(ExchangeRoutes.Create("a", ExchangeKind.Fanout)
                .WithBinding(new Binding(Destination.Exchange("b"), ""))
                .WithBinding(new Binding(Destination.Queue("q1"), "")))
            .WithExchange(ExchangeRoutes.Create("b", ExchangeKind.Fanout)
                .WithBinding(new Binding(Destination.Queue("q2"), "")));
        Assert.Equal(["q2"], Route(table.WithoutQueue("q1"), "a", ""));
        Assert.Equal(["q1"], Route(table.WithoutExchange("b"), "a", ""));
        Assert.DoesNotContain(table.WithoutExchange("b").Find("a")!.Bindings, b => b.Destination.Kind == DestinationKind.Exchange);
    }

    [Fact]
    public void Headers_all_and_any_with_and_without_x_keys()
    {
        static Binding Bind(string queue, params (string, object?)[] args) =>
            new(Destination.Queue(queue), "", args.ToDictionary(a => a.Item1, a => a.Item2));

        var routes = ExchangeRoutes.Create("h", ExchangeKind.Headers)
            .WithBinding(Bind("all", ("format", "pdf"), ("type", "report")))
            .WithBinding(Bind("any", ("x-match", "any"), ("format", "pdf"), ("type", "log")))
            .WithBinding(Bind("present", ("format", null)))
            .WithBinding(Bind("allx", ("x-match", "all-with-x"), ("x-tenant", "t1")))
            .WithBinding(Bind("xignored", ("x-tenant", "t2")))
            .WithBinding(Bind("number", ("size", 5)))
            .WithBinding(Bind("empty-any", ("x-match", "any")));
        var table = RoutingTable.Empty.WithExchange(routes);

        Assert.Equal(["all", "any", "present", "xignored"], Route(table, "h", "", new TestHeaders(("format", "pdf"), ("type", "report"))));
        Assert.Equal(["any", "xignored"], Route(table, "h", "", new TestHeaders(("type", "log"))));
        Assert.Equal(["allx", "xignored"], Route(table, "h", "", new TestHeaders(("x-tenant", "t1"))));
        Assert.Equal(["number", "xignored"], Route(table, "h", "", new TestHeaders(("size", 5L))));
        Assert.Equal(["number", "xignored"], Route(table, "h", "", new TestHeaders(("size", (byte)5))));
        Assert.Equal(["xignored"], Route(table, "h", "", new TestHeaders(("size", "5"))));
        Assert.Equal(["xignored"], Route(table, "h", "", null));
    }

    [Fact]
    public void Headers_match_mode_and_binding_identity_work_with_the_values_a_door_produces()
    {
        // Doors hand over long strings as TextValue and byte arrays as fresh arrays, never as .NET strings.
        static Binding Bind(string queue, params (string, object?)[] args) =>
            new(Destination.Queue(queue), "", args.ToDictionary(a => a.Item1, a => a.Item2));

        var routes = ExchangeRoutes.Create("h", ExchangeKind.Headers)
            .WithBinding(Bind("any", ("x-match", new TextValue("any")), ("format", new TextValue("pdf")), ("type", new TextValue("log"))))
            .WithBinding(Bind("blob", ("sig", new byte[] { 1, 2, 3 })));
        var table = RoutingTable.Empty.WithExchange(routes);

        Assert.Equal(["any"], Route(table, "h", "", new TestHeaders(("type", new TextValue("log")))));

        // Binding again with equal (not identical) byte-array arguments is the same binding.
        var again = routes.WithBinding(Bind("blob", ("sig", new byte[] { 1, 2, 3 })));
        Assert.Same(routes, again);
        Assert.Equal(2, again.Bindings.Count);
    }

    private static string RandomKey(Random random, string[] words, bool allowWildcards)
    {
        var count = random.Next(0, 5);
        var pool = allowWildcards ? words : words[..3];
        return string.Join('.', Enumerable.Range(0, count).Select(_ => pool[random.Next(pool.Length)]));
    }

    private static bool ReferenceMatch(ReadOnlySpan<string> pattern, ReadOnlySpan<string> key)
    {
        if (pattern.IsEmpty)
        {
            return key.IsEmpty;
        }

        if (pattern[0] == "#")
        {
            for (var skip = 0; skip <= key.Length; skip++)
            {
                if (ReferenceMatch(pattern[1..], key[skip..]))
                {
                    return true;
                }
            }

            return false;
        }

        return !key.IsEmpty && (pattern[0] == "*" || pattern[0] == key[0]) && ReferenceMatch(pattern[1..], key[1..]);
    }
}
