using Holdfast.Broker.Messages;

namespace Holdfast.Broker.Topology;

/// <summary>Reading and comparing declare and bind arguments, whose values are the neutral header types.</summary>
public static class TopologyArguments
{
    public static IReadOnlyDictionary<string, object?> Empty { get; } = new Dictionary<string, object?>(StringComparer.Ordinal);

    /// <summary>Any AMQP integer type as a long (clients send 8, 16, 32 or 64-bit values for the same argument); null for anything else.</summary>
    public static long? AsInteger(object? value) => value switch
    {
        sbyte v => v,
        byte v => v,
        short v => v,
        ushort v => v,
        int v => v,
        uint v => v,
        long v => v,
        _ => null,
    };

    public static string? GetString(IReadOnlyDictionary<string, object?> arguments, string name)
    {
        ArgumentNullException.ThrowIfNull(arguments);
        return arguments.TryGetValue(name, out var value) ? value switch
        {
            TextValue text => text.ToString(),
            string s => s,
            _ => null,
        } : null;
    }

    /// <summary>Equality as RabbitMQ checks it on redeclare: same keys, equal values (arrays and tables element by element).</summary>
    public static bool AreEquivalent(IReadOnlyDictionary<string, object?> a, IReadOnlyDictionary<string, object?> b)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        if (a.Count != b.Count)
        {
            return false;
        }

        foreach (var (key, value) in a)
        {
            if (!b.TryGetValue(key, out var other) || !ValuesEqual(value, other))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>The first argument that differs, for the 406 text; null when equivalent.</summary>
    public static string? FirstDifference(IReadOnlyDictionary<string, object?> received, IReadOnlyDictionary<string, object?> current)
    {
        ArgumentNullException.ThrowIfNull(received);
        ArgumentNullException.ThrowIfNull(current);
        foreach (var (key, value) in received)
        {
            if (!current.TryGetValue(key, out var other) || !ValuesEqual(value, other))
            {
                return key;
            }
        }

        foreach (var key in current.Keys)
        {
            if (!received.ContainsKey(key))
            {
                return key;
            }
        }

        return null;
    }

    public static string Describe(object? value) => value switch
    {
        null => "none",
        TextValue text => text.ToString(),
        byte[] bytes => Convert.ToHexString(bytes),
        _ => Convert.ToString(value, System.Globalization.CultureInfo.InvariantCulture) ?? string.Empty,
    };

    /// <summary>RabbitMQ's names for AMQP field types, as its error texts use them.</summary>
    public static string TypeName(object? value) => value switch
    {
        null => "void",
        bool => "bool",
        sbyte => "byte",
        byte => "unsignedbyte",
        short => "short",
        ushort => "unsignedshort",
        int => "signedint",
        uint => "unsignedint",
        long => "long",
        float => "float",
        double => "double",
        DecimalValue => "decimal",
        TextValue or string => "longstr",
        byte[] => "binary",
        TimestampValue => "timestamp",
        MessageHeaders => "table",
        IReadOnlyList<object?> => "array",
        _ => value.GetType().Name,
    };

    /// <summary>One argument value against another: arrays, tables and byte arrays element by element.</summary>
    public static bool ValuesEqual(object? a, object? b) => (a, b) switch
    {
        (byte[] x, byte[] y) => x.AsSpan().SequenceEqual(y),
        (IReadOnlyList<object?> x, IReadOnlyList<object?> y) => ListsEqual(x, y),
        (MessageHeaders x, MessageHeaders y) => HeadersEqual(x, y),
        _ => Equals(a, b),
    };

    private static bool ListsEqual(IReadOnlyList<object?> a, IReadOnlyList<object?> b)
    {
        if (a.Count != b.Count)
        {
            return false;
        }

        for (var i = 0; i < a.Count; i++)
        {
            if (!ValuesEqual(a[i], b[i]))
            {
                return false;
            }
        }

        return true;
    }

    private static bool HeadersEqual(MessageHeaders a, MessageHeaders b)
    {
        if (a.Count != b.Count)
        {
            return false;
        }

        for (var i = 0; i < a.Count; i++)
        {
            if (!string.Equals(a[i].Key, b[i].Key, StringComparison.Ordinal) || !ValuesEqual(a[i].Value, b[i].Value))
            {
                return false;
            }
        }

        return true;
    }
}
