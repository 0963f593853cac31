using System.Collections;
using Holdfast.Broker.Routing;

namespace Holdfast.Broker.Messages;

/// <summary>
/// Named header values in the order they were given, duplicates kept (a door that re-encodes them
/// must produce what it received). Lookup returns the first of a name. See
/// <see cref="MessageProperties"/> for the value types.
/// </summary>
public sealed class MessageHeaders : IReadOnlyList<KeyValuePair<string, object?>>, IMessageHeaders
{
    private readonly KeyValuePair<string, object?>[] _entries;

    public MessageHeaders(IEnumerable<KeyValuePair<string, object?>> entries) => _entries = [.. entries];

    public static MessageHeaders Empty { get; } = new([]);

    public int Count => _entries.Length;

    public KeyValuePair<string, object?> this[int index] => _entries[index];

    public bool TryGetHeader(string name, out object? value)
    {
        foreach (var (key, v) in _entries)
        {
            if (string.Equals(key, name, StringComparison.Ordinal))
            {
                value = v;
                return true;
            }
        }

        value = null;
        return false;
    }

    /// <summary>A copy with <paramref name="name"/> set (replacing the first of that name, or appended).</summary>
    /// <summary>These headers without <paramref name="name"/> (the same instance when it is absent).</summary>
    public MessageHeaders Without(string name) =>
        TryGetHeader(name, out _) ? new MessageHeaders(_entries.Where(e => !string.Equals(e.Key, name, StringComparison.Ordinal))) : this;

    public MessageHeaders With(string name, object? value)
    {
        var entries = _entries.ToList();
        var at = entries.FindIndex(e => string.Equals(e.Key, name, StringComparison.Ordinal));
        if (at >= 0)
        {
            entries[at] = new(name, value);
        }
        else
        {
            entries.Add(new(name, value));
        }

        return new MessageHeaders(entries);
    }

    public IEnumerator<KeyValuePair<string, object?>> GetEnumerator() => ((IEnumerable<KeyValuePair<string, object?>>)_entries).GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}
