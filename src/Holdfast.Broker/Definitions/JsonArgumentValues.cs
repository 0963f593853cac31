using System.Text.Json;
using Holdfast.Broker.Messages;

namespace Holdfast.Broker.Definitions;

/// <summary>
/// JSON values of a definitions file (queue, exchange and binding arguments, policy definitions) as
/// the broker's header values, typed as a RabbitMQ client would have sent them in a declare: strings
/// as <see cref="TextValue"/>, whole numbers as <see cref="int"/> when they fit (RabbitMQ.Client sends
/// a C# int as a signed 32-bit value, and the broker compares argument types on redeclare) and as
/// <see cref="long"/> otherwise, other numbers as <see cref="double"/>, booleans, null as void, arrays
/// as lists and objects as tables.
/// </summary>
internal static class JsonArgumentValues
{
    /// <summary>An object's members as arguments; a name given twice keeps its last value, as RabbitMQ's JSON decoding does.</summary>
    /// <exception cref="FormatException">The element is not an object, or holds a number no AMQP integer type can carry.</exception>
    public static Dictionary<string, object?> ToArguments(JsonElement element)
    {
        if (element.ValueKind != JsonValueKind.Object)
        {
            throw new FormatException($"expected an object, found {Describe(element.ValueKind)}");
        }

        var arguments = new Dictionary<string, object?>(StringComparer.Ordinal);
        foreach (var member in element.EnumerateObject())
        {
            arguments[member.Name] = ToValue(member.Value, member.Name);
        }

        return arguments;
    }

    /// <exception cref="FormatException">A number no AMQP integer type can carry.</exception>
    public static object? ToValue(JsonElement element, string name) => element.ValueKind switch
    {
        JsonValueKind.String => new TextValue(element.GetString()!),
        JsonValueKind.True => true,
        JsonValueKind.False => false,
        JsonValueKind.Null => null,
        JsonValueKind.Number => ToNumber(element, name),
        JsonValueKind.Array => element.EnumerateArray().Select(item => ToValue(item, name)).ToList(),
        JsonValueKind.Object => ToTable(element),
        _ => throw new FormatException($"'{name}' holds {Describe(element.ValueKind)}"),
    };

    public static string Describe(JsonValueKind kind) => kind switch
    {
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "an array",
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        JsonValueKind.Null => "null",
        _ => "nothing",
    };

    private static object ToNumber(JsonElement element, string name)
    {
        if (element.TryGetInt32(out int small))
        {
            return small;
        }

        if (element.TryGetInt64(out long large))
        {
            return large;
        }

        var text = element.GetRawText();
        if (text.AsSpan().IndexOfAny('.', 'e', 'E') < 0)
        {
            // A whole number past 64 bits: no AMQP field type carries it, and a double would change its value.
            throw new FormatException($"'{name}' is {text}, beyond the range of a 64-bit integer");
        }

        return element.GetDouble();
    }

    private static MessageHeaders ToTable(JsonElement element)
    {
        // Last value wins for a repeated name, in the position of its first appearance, as for arguments.
        var order = new List<string>();
        var values = new Dictionary<string, object?>(StringComparer.Ordinal);
        foreach (var member in element.EnumerateObject())
        {
            if (!values.ContainsKey(member.Name))
            {
                order.Add(member.Name);
            }

            values[member.Name] = ToValue(member.Value, member.Name);
        }

        return new MessageHeaders(order.Select(key => KeyValuePair.Create(key, values[key])));
    }
}
