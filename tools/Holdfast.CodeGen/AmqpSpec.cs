using System.Text.Json;

namespace Holdfast.CodeGen;

/// <summary>
/// The parts of RabbitMQ's amqp-rabbitmq-0.9.1.json the codec is generated from, with every
/// argument's domain already resolved to its wire type. Loading fails loudly on anything it does
/// not understand, so a changed spec file breaks the generator, not the broker.
/// </summary>
public sealed record AmqpSpec(
    int MajorVersion,
    int MinorVersion,
    int Revision,
    int Port,
    IReadOnlyList<SpecConstant> Constants,
    IReadOnlyList<SpecClass> Classes)
{
    /// <summary>The wire types the codec knows how to read and write.</summary>
    public static readonly IReadOnlySet<string> WireTypes = new HashSet<string>(StringComparer.Ordinal)
    {
        "bit", "octet", "short", "long", "longlong", "shortstr", "longstr", "table", "timestamp",
    };

    public static AmqpSpec Parse(string json)
    {
        using var document = JsonDocument.Parse(json);
        var root = document.RootElement;

        var domains = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var domain in root.GetProperty("domains").EnumerateArray())
        {
            domains[domain[0].GetString()!] = domain[1].GetString()!;
        }

        var constants = root.GetProperty("constants").EnumerateArray()
            .Select(c => new SpecConstant(
                c.GetProperty("name").GetString()!,
                c.GetProperty("value").GetInt32(),
                c.TryGetProperty("class", out var errorClass) ? errorClass.GetString() : null))
            .ToList();

        var classes = root.GetProperty("classes").EnumerateArray()
            .Select(c => ParseClass(c, domains))
            .ToList();

        return new AmqpSpec(
            root.GetProperty("major-version").GetInt32(),
            root.GetProperty("minor-version").GetInt32(),
            root.GetProperty("revision").GetInt32(),
            root.GetProperty("port").GetInt32(),
            constants,
            classes);
    }

    private static SpecClass ParseClass(JsonElement element, Dictionary<string, string> domains)
    {
        string className = element.GetProperty("name").GetString()!;
        var methods = element.GetProperty("methods").EnumerateArray()
            .Select(m => new SpecMethod(
                m.GetProperty("name").GetString()!,
                m.GetProperty("id").GetInt32(),
                m.TryGetProperty("synchronous", out var synchronous) && synchronous.GetBoolean(),
                m.TryGetProperty("content", out var content) && content.GetBoolean(),
                m.GetProperty("arguments").EnumerateArray()
                    .Select(a => ParseField(a, domains, $"{className}.{m.GetProperty("name").GetString()}"))
                    .ToList()))
            .ToList();

        // Some classes have no "properties" key, connection has an empty list: both mean no content.
        var properties = element.TryGetProperty("properties", out var props)
            ? props.EnumerateArray().Select(p => ParseField(p, domains, $"{className} properties")).ToList()
            : [];

        return new SpecClass(className, element.GetProperty("id").GetInt32(), methods, properties);
    }

    private static SpecField ParseField(JsonElement element, Dictionary<string, string> domains, string owner)
    {
        string name = element.GetProperty("name").GetString()!;

        // An argument names either its wire type ("type") or a domain that maps to one ("domain").
        string type;
        if (element.TryGetProperty("type", out var typeElement))
        {
            type = typeElement.GetString()!;
        }
        else if (element.TryGetProperty("domain", out var domainElement))
        {
            string domain = domainElement.GetString()!;
            type = domains.TryGetValue(domain, out var resolved)
                ? resolved
                : throw new InvalidDataException($"{owner}.{name}: unknown domain '{domain}'.");
        }
        else
        {
            throw new InvalidDataException($"{owner}.{name}: neither a type nor a domain.");
        }

        if (!WireTypes.Contains(type))
        {
            throw new InvalidDataException($"{owner}.{name}: unknown wire type '{type}'.");
        }

        string? defaultValue = element.TryGetProperty("default-value", out var defaultElement)
            ? DescribeDefault(defaultElement)
            : null;
        return new SpecField(name, type, defaultValue);
    }

    private static string DescribeDefault(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.String => $"\"{value.GetString()}\"",
        JsonValueKind.True => "true",
        JsonValueKind.False => "false",
        JsonValueKind.Object => "empty table",
        _ => value.GetRawText(),
    };
}
