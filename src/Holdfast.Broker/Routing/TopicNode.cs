using System.Collections.Immutable;

namespace Holdfast.Broker.Routing;

/// <summary>An immutable trie node: literal children sorted by word, and the two wildcard children.</summary>
internal sealed class TopicNode(ImmutableArray<(string Word, TopicNode Node)> children, TopicNode? star, TopicNode? hash, ImmutableArray<Destination> destinations)
{
    public static TopicNode Empty { get; } = new([], null, null, []);

    public TopicNode? Star => star;

    public TopicNode? Hash => hash;

    public ImmutableArray<Destination> Destinations => destinations;

    private bool IsEmpty => children.IsEmpty && star is null && hash is null && destinations.IsEmpty;

    public TopicNode? FindChild(ReadOnlySpan<char> word)
    {
        var at = Search(word);
        return at >= 0 ? children[at].Node : null;
    }

    public TopicNode With(string[] words, int index, Destination destination, bool add)
    {
        if (index == words.Length)
        {
            var here = add
                ? (destinations.Contains(destination) ? destinations : destinations.Add(destination))
                : destinations.Remove(destination);
            return new TopicNode(children, star, hash, here);
        }

        var word = words[index];
        if (word == "*")
        {
            return new TopicNode(children, Child(star, words, index, destination, add), hash, destinations);
        }

        if (word == "#")
        {
            return new TopicNode(children, star, Child(hash, words, index, destination, add), destinations);
        }

        var at = Search(word);
        var existing = at >= 0 ? children[at].Node : null;
        var updated = Child(existing, words, index, destination, add);
        ImmutableArray<(string, TopicNode)> newChildren;
        if (updated is null)
        {
            newChildren = at >= 0 ? children.RemoveAt(at) : children;
        }
        else
        {
            newChildren = at >= 0 ? children.SetItem(at, (word, updated)) : children.Insert(~at, (word, updated));
        }

        return new TopicNode(newChildren, star, hash, destinations);
    }

    private static TopicNode? Child(TopicNode? existing, string[] words, int index, Destination destination, bool add)
    {
        if (existing is null && !add)
        {
            return null;
        }

        var updated = (existing ?? Empty).With(words, index + 1, destination, add);
        return updated.IsEmpty ? null : updated;
    }

    /// <summary>Index of <paramref name="word"/> among the children, or the complement of where it would go.</summary>
    private int Search(ReadOnlySpan<char> word)
    {
        int lo = 0, hi = children.Length - 1;
        while (lo <= hi)
        {
            var mid = (lo + hi) >>> 1;
            var order = word.SequenceCompareTo(children[mid].Word);
            if (order == 0)
            {
                return mid;
            }

            if (order > 0)
            {
                lo = mid + 1;
            }
            else
            {
                hi = mid - 1;
            }
        }

        return ~lo;
    }
}
