using System.Collections.Immutable;

namespace Holdfast.Broker.Routing;

/// <summary>
/// The headers exchange: each binding's arguments are a pattern. <c>x-match</c> is <c>all</c>
/// (the default), <c>any</c>, <c>all-with-x</c> or <c>any-with-x</c>; without "-with-x", pattern
/// keys starting with <c>x-</c> are ignored. A pattern value of null (AMQP void) asks only that the
/// header be present. An empty pattern matches everything under "all" and nothing under "any".
/// </summary>
internal sealed class HeadersMatcher(ImmutableArray<Binding> bindings) : RouteMatcher
{
    public static HeadersMatcher Empty { get; } = new([]);

    public override RouteMatcher Add(Binding binding) =>
        bindings.Contains(binding) ? this : new HeadersMatcher(bindings.Add(binding));

    public override RouteMatcher Remove(Binding binding) => new HeadersMatcher(bindings.Remove(binding));

    public override void Match(string routingKey, IMessageHeaders? headers, List<Destination> into)
    {
        foreach (var binding in bindings)
        {
            if (Matches(binding.Arguments, headers))
            {
                into.Add(binding.Destination);
            }
        }
    }

    internal static bool Matches(IReadOnlyDictionary<string, object?>? pattern, IMessageHeaders? headers)
    {
        var mode = pattern is not null && pattern.TryGetValue("x-match", out var m) ? m switch
        {
            string s => s,
            Messages.TextValue text => text.ToString(),
            byte[] b => System.Text.Encoding.UTF8.GetString(b),
            _ => null,
        } : null;
        var any = mode is "any" or "any-with-x";
        var withX = mode is "all-with-x" or "any-with-x";
        if (pattern is not null)
        {
            foreach (var (key, expected) in pattern)
            {
                if (key == "x-match" || (!withX && key.StartsWith("x-", StringComparison.Ordinal)))
                {
                    continue;
                }

                var hit = headers is not null && headers.TryGetHeader(key, out var actual) && (expected is null || HeaderValues.Equivalent(expected, actual));
                if (any && hit)
                {
                    return true;
                }

                if (!any && !hit)
                {
                    return false;
                }
            }
        }

        // Every considered key matched under "all" (true even for an empty pattern); nothing did under "any".
        return !any;
    }
}
