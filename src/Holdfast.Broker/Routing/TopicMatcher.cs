
namespace Holdfast.Broker.Routing;

/// <summary>
/// Topic routing over a persistent trie of binding-key words: <c>*</c> matches exactly one word and
/// <c>#</c> zero or more. Adding a binding copies only the path it touches, so publishers keep
/// reading the old trie without a lock, and a routing key is walked word by word as spans of the
/// key: no allocation per publish. An empty routing key has no words.
/// </summary>
internal sealed class TopicMatcher(TopicNode root) : RouteMatcher
{
    public static TopicMatcher Empty { get; } = new(TopicNode.Empty);

    public override RouteMatcher Add(Binding binding) => new TopicMatcher(root.With(Words(binding.RoutingKey), 0, binding.Destination, add: true));

    public override RouteMatcher Remove(Binding binding) => new TopicMatcher(root.With(Words(binding.RoutingKey), 0, binding.Destination, add: false));

    public override void Match(string routingKey, IMessageHeaders? headers, List<Destination> into)
    {
        Span<Range> words = routingKey.Length <= 256 ? stackalloc Range[129] : new Range[(routingKey.Length / 2) + 2];
        var count = routingKey.Length == 0 ? 0 : routingKey.AsSpan().Split(words, '.');
        Walk(root, routingKey, words[..count], 0, into);
    }

    private static void Walk(TopicNode node, string key, ReadOnlySpan<Range> words, int index, List<Destination> into)
    {
        if (node.Hash is { } hash)
        {
            // '#' takes zero, one, ... all of the remaining words.
            for (var next = index; next <= words.Length; next++)
            {
                Walk(hash, key, words, next, into);
            }
        }

        if (index == words.Length)
        {
            foreach (var destination in node.Destinations)
            {
                into.Add(destination);
            }

            return;
        }

        if (node.FindChild(key.AsSpan(words[index])) is { } child)
        {
            Walk(child, key, words, index + 1, into);
        }

        if (node.Star is { } star)
        {
            Walk(star, key, words, index + 1, into);
        }
    }

    private static string[] Words(string bindingKey) => bindingKey.Length == 0 ? [] : bindingKey.Split('.');
}
