using System.Collections.Immutable;

namespace Holdfast.Broker.Routing;

/// <summary>
/// The headers exchange: each binding's arguments are a pattern. <c>x-match</c> is <c>all</c>
/// (the default), <c>any</c>, <c>all-with-x</c> or <c>any-with-x</c>; without "-with-x", pattern
/// keys starting with <c>x-</c> are ignored. A pattern value of null (AMQP void) asks only that the
/// header be present. An empty pattern matches everything under "all" and nothing under "any".
/// </summary>
/// <remarks>
/// Patterns are compiled when bound (mode read once, ignored keys dropped, pairs in an array), so
/// matching a publish walks arrays and allocates nothing.
/// </remarks>
internal sealed class HeadersMatcher(ImmutableArray<HeadersMatcher.Pattern> patterns) : RouteMatcher
{
    public static HeadersMatcher Empty { get; } = new([]);

    public override RouteMatcher Add(Binding binding) =>
        patterns.Any(p => p.Binding.Equals(binding)) ? this : new HeadersMatcher(patterns.Add(Pattern.Compile(binding)));

    public override RouteMatcher Remove(Binding binding) => new HeadersMatcher(patterns.RemoveAll(p => p.Binding.Equals(binding)));

    public override void Match(string routingKey, IMessageHeaders? headers, List<Destination> into)
    {
        foreach (var pattern in patterns)
        {
            if (pattern.Matches(headers))
            {
                into.Add(pattern.Binding.Destination);
            }
        }
    }

    internal static bool Matches(IReadOnlyDictionary<string, object?>? pattern, IMessageHeaders? headers) =>
        Pattern.Compile(new Binding(Destination.Queue(string.Empty), string.Empty, pattern)).Matches(headers);

    /// <summary>A binding's arguments ready for matching.</summary>
    internal sealed class Pattern
    {
        private readonly KeyValuePair<string, object?>[] _keys;
        private readonly bool _any;

        private Pattern(Binding binding, KeyValuePair<string, object?>[] keys, bool any)
        {
            Binding = binding;
            _keys = keys;
            _any = any;
        }

        public Binding Binding { get; }

        public static Pattern Compile(Binding binding)
        {
            var arguments = binding.Arguments;
            var mode = arguments is not null && arguments.TryGetValue("x-match", out var m) ? m switch
            {
                string s => s,
                Messages.TextValue text => text.ToString(),
                byte[] b => System.Text.Encoding.UTF8.GetString(b),
                _ => null,
            } : null;
            var any = mode is "any" or "any-with-x";
            var withX = mode is "all-with-x" or "any-with-x";
            var keys = arguments is null
                ? []
                : arguments.Where(a => a.Key != "x-match" && (withX || !a.Key.StartsWith("x-", StringComparison.Ordinal))).ToArray();
            return new Pattern(binding, keys, any);
        }

        public bool Matches(IMessageHeaders? headers)
        {
            foreach (var (key, expected) in _keys)
            {
                var hit = headers is not null && headers.TryGetHeader(key, out var actual) && (expected is null || HeaderValues.Equivalent(expected, actual));
                if (_any && hit)
                {
                    return true;
                }

                if (!_any && !hit)
                {
                    return false;
                }
            }

            // Every considered key matched under "all" (true even for an empty pattern); nothing did under "any".
            return !_any;
        }
    }
}
