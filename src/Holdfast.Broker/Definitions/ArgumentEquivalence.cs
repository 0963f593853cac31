using Holdfast.Broker.Messages;
using Holdfast.Broker.Topology;

namespace Holdfast.Broker.Definitions;

/// <summary>
/// Whether the arguments a definitions file gives for an entity are those the broker already has.
/// Values are compared by what they mean, not by their AMQP field type: RabbitMQ writes every whole
/// number as a JSON number whatever type the client declared it with, so 60000 in the file is the
/// same TTL as a client's 64-bit 60000, and the import must not call that a conflict.
/// </summary>
internal static class ArgumentEquivalence
{
    /// <summary>The first argument whose value differs (or that only one side has), described for a conflict message; null when equivalent.</summary>
    public static string? FirstDifference(IReadOnlyDictionary<string, object?> current, IReadOnlyDictionary<string, object?> requested)
    {
        foreach (var key in current.Keys.Concat(requested.Keys).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal))
        {
            var had = current.TryGetValue(key, out var currentValue);
            var has = requested.TryGetValue(key, out var requestedValue);
            if (had != has || !Equivalent(currentValue, requestedValue))
            {
                return $"argument '{key}' is {(had ? $"'{TopologyArguments.Describe(currentValue)}'" : "not set")} in the broker but {(has ? $"'{TopologyArguments.Describe(requestedValue)}'" : "not set")} in the file";
            }
        }

        return null;
    }

    public static bool Equivalent(object? a, object? b)
    {
        if (TopologyArguments.AsInteger(a) is { } x && TopologyArguments.AsInteger(b) is { } y)
        {
            return x == y;
        }

        return (a, b) switch
        {
            (float or double, float or double) => Convert.ToDouble(a, System.Globalization.CultureInfo.InvariantCulture) == Convert.ToDouble(b, System.Globalization.CultureInfo.InvariantCulture),
            (TextValue or string, TextValue or string) => string.Equals(AsText(a), AsText(b), StringComparison.Ordinal),
            (byte[] p, byte[] q) => p.AsSpan().SequenceEqual(q),
            (MessageHeaders p, MessageHeaders q) => TablesEquivalent(p, q),
            (IReadOnlyList<object?> p, IReadOnlyList<object?> q) => p.Count == q.Count && p.Zip(q).All(pair => Equivalent(pair.First, pair.Second)),
            _ => Equals(a, b),
        };
    }

    private static bool TablesEquivalent(MessageHeaders a, MessageHeaders b)
    {
        if (a.Count != b.Count)
        {
            return false;
        }

        for (var i = 0; i < a.Count; i++)
        {
            if (!string.Equals(a[i].Key, b[i].Key, StringComparison.Ordinal) || !Equivalent(a[i].Value, b[i].Value))
            {
                return false;
            }
        }

        return true;
    }

    private static string? AsText(object? value) => value switch
    {
        TextValue text => text.ToString(),
        string s => s,
        _ => null,
    };
}
