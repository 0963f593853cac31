using System.Text.Json;
using Holdfast.Broker.Policies;
using Holdfast.Broker.Routing;
using Holdfast.Broker.Security;
using Holdfast.Broker.Topology;

namespace Holdfast.Broker.Definitions;

/// <summary>
/// Reads RabbitMQ's definitions format (what <c>rabbitmqctl export_definitions</c>, <c>GET
/// /api/definitions</c> and the management UI's export write) into a <see cref="DefinitionsDocument"/>.
/// Every shape error names the section, the entry's index and, when it has one, its name.
/// </summary>
/// <remarks>
/// Read as RabbitMQ reads it: users take <c>password_hash</c> with <c>hashing_algorithm</c> (or, a
/// convenience RabbitMQ's import also has, a plain <c>password</c>; neither makes a user without a
/// password), tags as one comma-separated string or a list; exchanges and queues named <c>amq.*</c>
/// and the default exchange are skipped, as RabbitMQ skips them; a policy's <c>apply-to</c> defaults
/// to <c>all</c> and its priority to 0. Sections Holdfast has nothing to put in (runtime parameters,
/// topic permissions, ...) and fields it does not enforce (limits) are listed in
/// <see cref="DefinitionsDocument.Skipped"/>, never silently dropped.
/// </remarks>
internal static class DefinitionsParser
{
    private static readonly JsonDocumentOptions s_options = new() { MaxDepth = 128 };

    /// <exception cref="DefinitionsException">Not JSON, or not in the definitions format.</exception>
    public static DefinitionsDocument Parse(ReadOnlyMemory<byte> utf8Json)
    {
        JsonDocument json;
        try
        {
            json = JsonDocument.Parse(utf8Json, s_options);
        }
        catch (JsonException ex)
        {
            throw new DefinitionsException($"the file is not valid JSON: {ex.Message}", ex);
        }

        using (json)
        {
            var root = json.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                throw new DefinitionsException($"the file holds {JsonArgumentValues.Describe(root.ValueKind)}; a definitions file is a JSON object with sections such as \"queues\" and \"users\"");
            }

            var document = new DefinitionsDocument
            {
                RabbitVersion = OptionalString(root, "rabbitmq_version", "the file") ?? OptionalString(root, "rabbit_version", "the file"),
            };

            foreach (var section in root.EnumerateObject())
            {
                switch (section.Name)
                {
                    case "vhosts":
                        ForEach(section, document, ReadVirtualHost);
                        break;
                    case "users":
                        ForEach(section, document, ReadUser);
                        break;
                    case "permissions":
                        ForEach(section, document, ReadPermission);
                        break;
                    case "policies":
                        ForEach(section, document, ReadPolicy);
                        break;
                    case "exchanges":
                        ForEach(section, document, ReadExchange);
                        break;
                    case "queues":
                        ForEach(section, document, ReadQueue);
                        break;
                    case "bindings":
                        ForEach(section, document, ReadBinding);
                        break;
                    default:
                        // An empty section ("parameters": []) sets nothing aside, so it is not worth a line.
                        var empty = section.Value.ValueKind == JsonValueKind.Null || (section.Value.ValueKind == JsonValueKind.Array && section.Value.GetArrayLength() == 0);
                        if (!empty)
                        {
                            document.Skipped.Add(DescribeIgnoredSection(section));
                        }

                        break;
                }
            }

            return document;
        }
    }

    private static void ForEach(JsonProperty section, DefinitionsDocument document, Action<JsonElement, string, DefinitionsDocument> read)
    {
        if (section.Value.ValueKind == JsonValueKind.Null)
        {
            return;
        }

        if (section.Value.ValueKind != JsonValueKind.Array)
        {
            throw new DefinitionsException($"\"{section.Name}\" holds {JsonArgumentValues.Describe(section.Value.ValueKind)}; it must be an array");
        }

        var index = 0;
        foreach (var entry in section.Value.EnumerateArray())
        {
            var where = $"{section.Name}[{index++}]";
            if (entry.ValueKind != JsonValueKind.Object)
            {
                throw new DefinitionsException($"{where} is {JsonArgumentValues.Describe(entry.ValueKind)}; each entry must be an object");
            }

            if (entry.TryGetProperty("name", out var name) && name.ValueKind == JsonValueKind.String)
            {
                where += $" ('{name.GetString()}')";
            }

            read(entry, where, document);
        }
    }

    private static string DescribeIgnoredSection(JsonProperty section)
    {
        var what = section.Name switch
        {
            "rabbit_version" or "rabbitmq_version" or "product_name" or "product_version" => "describes the exporting node",
            "parameters" => "runtime parameters (federation, shovels, vhost limits) have no Holdfast counterpart",
            "global_parameters" => "global runtime parameters (cluster name, ...) have no Holdfast counterpart",
            "topic_permissions" => "topic permissions are not enforced by Holdfast",
            "operator_policies" => "operator policies are not supported by Holdfast",
            _ => "not a definitions section Holdfast imports",
        };
        var value = section.Value.ValueKind switch
        {
            JsonValueKind.Array => $"{section.Value.GetArrayLength()} {(section.Value.GetArrayLength() == 1 ? "entry" : "entries")}",
            JsonValueKind.String => $"\"{section.Value.GetString()}\"",
            _ => JsonArgumentValues.Describe(section.Value.ValueKind),
        };
        return $"\"{section.Name}\" ({value}): {what}";
    }

    private static void ReadVirtualHost(JsonElement entry, string where, DefinitionsDocument document)
    {
        var name = RequireString(entry, "name", where);
        if (HasEntries(entry, "limits"))
        {
            document.Skipped.Add($"vhost '{name}': limits are not enforced by Holdfast");
        }

        document.VirtualHosts.Add(name);
    }

    private static void ReadUser(JsonElement entry, string where, DefinitionsDocument document)
    {
        var name = RequireString(entry, "name", where);
        var tags = ReadTags(entry, where);
        var password = OptionalString(entry, "password", where);
        var passwordHash = OptionalString(entry, "password_hash", where);
        if (password is not null && passwordHash is not null)
        {
            // RabbitMQ refuses this too (both_password_and_password_hash_are_provided).
            throw new DefinitionsException($"{where}: both \"password\" and \"password_hash\" are given; give one");
        }

        if (HasEntries(entry, "limits"))
        {
            document.Skipped.Add($"user '{name}': limits are not enforced by Holdfast");
        }

        if (password is not null)
        {
            if (password.Length == 0)
            {
                throw new DefinitionsException($"{where}: \"password\" is empty; for a user that cannot log in with a password, give \"password_hash\": \"\"");
            }

            document.Users.Add(new DefinedUser(name, tags, null, password));
            return;
        }

        var algorithm = OptionalString(entry, "hashing_algorithm", where) ?? DefaultHashingAlgorithm(document.RabbitVersion);
        try
        {
            // No hash at all is a user without a password, as in RabbitMQ (one for certificates or another backend).
            document.Users.Add(new DefinedUser(name, tags, PasswordHash.FromRabbitMq(algorithm, passwordHash ?? string.Empty), null));
        }
        catch (ArgumentException ex)
        {
            throw new DefinitionsException($"{where}: {ex.Message}", ex);
        }
    }

    /// <summary>
    /// RabbitMQ's rule for a user exported without <c>hashing_algorithm</c>: files from 3.0 to 3.5
    /// hold MD5 hashes, 3.6.0 SHA-256, anything else the node's default, which is SHA-256.
    /// </summary>
    private static string DefaultHashingAlgorithm(string? rabbitVersion) =>
        rabbitVersion is not null && rabbitVersion.StartsWith("3.", StringComparison.Ordinal) && rabbitVersion.Length > 2 && rabbitVersion[2] is >= '0' and <= '5' && (rabbitVersion.Length == 3 || rabbitVersion[3] == '.')
            ? "rabbit_password_hashing_md5"
            : "rabbit_password_hashing_sha256";

    private static string[] ReadTags(JsonElement entry, string where)
    {
        if (!entry.TryGetProperty("tags", out var tags) || tags.ValueKind == JsonValueKind.Null)
        {
            return [];
        }

        IEnumerable<string> names = tags.ValueKind switch
        {
            // Up to RabbitMQ 3.8 one string, "administrator,monitoring"; a list since.
            JsonValueKind.String => tags.GetString()!.Split(','),
            JsonValueKind.Array => tags.EnumerateArray().Select(t => t.ValueKind == JsonValueKind.String
                ? t.GetString()!
                : throw new DefinitionsException($"{where}: \"tags\" holds {JsonArgumentValues.Describe(t.ValueKind)}; tags are strings")),
            _ => throw new DefinitionsException($"{where}: \"tags\" holds {JsonArgumentValues.Describe(tags.ValueKind)}; it must be a string or an array of strings"),
        };
        return [.. names.Select(t => t.Trim()).Where(t => t.Length > 0).Distinct(StringComparer.Ordinal)];
    }

    private static void ReadPermission(JsonElement entry, string where, DefinitionsDocument document)
    {
        var user = RequireString(entry, "user", where);
        var vhost = RequireString(entry, "vhost", where);
        where += $" (user '{user}' in vhost '{vhost}')";
        document.Permissions.Add(new DefinedPermission(vhost, user, RequireString(entry, "configure", where), RequireString(entry, "write", where), RequireString(entry, "read", where)));
    }

    private static void ReadPolicy(JsonElement entry, string where, DefinitionsDocument document)
    {
        var name = RequireString(entry, "name", where);
        var vhost = RequireString(entry, "vhost", where);
        var pattern = RequireString(entry, "pattern", where);
        var applyTo = OptionalString(entry, "apply-to", where) ?? "all";
        var target = applyTo switch
        {
            "all" => PolicyTarget.All,
            "exchanges" => PolicyTarget.Exchanges,
            "queues" => PolicyTarget.Queues,

            // RabbitMQ 3.12+ can aim at one queue type; Holdfast has one kind of queue, so each means every queue.
            "classic_queues" or "quorum_queues" or "streams" => PolicyTarget.Queues,
            _ => throw new DefinitionsException($"{where}: \"apply-to\" is '{applyTo}'; expected all, queues, exchanges, classic_queues, quorum_queues or streams"),
        };
        if (applyTo is "classic_queues" or "quorum_queues" or "streams")
        {
            document.Skipped.Add($"policy '{name}' in vhost '{vhost}': apply-to '{applyTo}' applies to every queue (Holdfast has one queue type)");
        }

        var priority = 0;
        if (entry.TryGetProperty("priority", out var priorityElement) && priorityElement.ValueKind != JsonValueKind.Null
            && (priorityElement.ValueKind != JsonValueKind.Number || !priorityElement.TryGetInt32(out priority)))
        {
            throw new DefinitionsException($"{where}: \"priority\" must be a whole number");
        }

        if (!entry.TryGetProperty("definition", out var definitionElement))
        {
            throw new DefinitionsException($"{where}: \"definition\" is missing");
        }

        var definition = Arguments(definitionElement, "definition", where);
        var unsupported = definition.Keys.Where(k => !PolicyResolver.QueueKeys.ContainsKey(k) && !PolicyResolver.ExchangeKeys.Contains(k)).Order(StringComparer.Ordinal).ToList();
        foreach (var key in unsupported)
        {
            definition.Remove(key);
        }

        if (unsupported.Count > 0)
        {
            // ha-mode and friends (classic mirroring), federation, queue-master-locator...: nothing in Holdfast to apply them to.
            var keys = string.Join(", ", unsupported);
            document.Skipped.Add(definition.Count == 0
                ? $"policy '{name}' in vhost '{vhost}': none of its keys ({keys}) has a Holdfast counterpart, so the policy is not imported"
                : $"policy '{name}' in vhost '{vhost}': key(s) {keys} have no Holdfast counterpart and are left out");
        }

        if (definition.Count > 0)
        {
            document.Policies.Add(new(vhost, new PolicyDefinition(name, pattern, target, priority, definition)));
        }
    }

    private static void ReadExchange(JsonElement entry, string where, DefinitionsDocument document)
    {
        var name = RequireString(entry, "name", where, allowEmpty: true);
        var vhost = RequireString(entry, "vhost", where);
        var type = RequireString(entry, "type", where);
        var durable = RequireBool(entry, "durable", where);
        var autoDelete = RequireBool(entry, "auto_delete", where);

        // Absent from exports of RabbitMQ 2.2 and older; RabbitMQ defaults it to false too.
        var isInternal = OptionalBool(entry, "internal", where) ?? false;
        var arguments = entry.TryGetProperty("arguments", out var args) ? Arguments(args, "arguments", where) : [];
        if (name.Length == 0 || name.StartsWith("amq.", StringComparison.Ordinal))
        {
            // As RabbitMQ's import does: the default and amq.* exchanges are the broker's own.
            document.Skipped.Add(name.Length == 0
                ? $"the default exchange in vhost '{vhost}': it is built in"
                : $"exchange '{name}' in vhost '{vhost}': names beginning with 'amq.' are reserved for the broker's own exchanges");
            return;
        }

        var delayed = type == "x-delayed-message";
        var kindName = delayed ? TopologyArguments.GetString(arguments, "x-delayed-type") ?? string.Empty : type;
        ExchangeKind kind = kindName switch
        {
            "direct" => ExchangeKind.Direct,
            "fanout" => ExchangeKind.Fanout,
            "topic" => ExchangeKind.Topic,
            "headers" => ExchangeKind.Headers,
            _ => throw new DefinitionsException(delayed
                ? $"{where} in vhost '{vhost}': an x-delayed-message exchange needs \"x-delayed-type\" set to direct, fanout, topic or headers, not '{kindName}'"
                : $"{where} in vhost '{vhost}': type '{type}' is not one Holdfast has (direct, fanout, topic, headers, x-delayed-message); its routing cannot move unchanged"),
        };
        document.Exchanges.Add(new(vhost, new ExchangeDefinition(name, kind, durable, autoDelete, isInternal, arguments) { DelayedMessage = delayed }));
    }

    private static void ReadQueue(JsonElement entry, string where, DefinitionsDocument document)
    {
        var name = RequireString(entry, "name", where);
        var vhost = RequireString(entry, "vhost", where);
        var durable = RequireBool(entry, "durable", where);
        var autoDelete = RequireBool(entry, "auto_delete", where);
        var arguments = entry.TryGetProperty("arguments", out var args) ? Arguments(args, "arguments", where) : [];
        if (name.StartsWith("amq.", StringComparison.Ordinal))
        {
            document.Skipped.Add($"queue '{name}' in vhost '{vhost}': names beginning with 'amq.' are server-generated, and RabbitMQ's import skips them too");
            return;
        }

        if (OptionalBool(entry, "exclusive", where) == true)
        {
            document.Skipped.Add($"queue '{name}' in vhost '{vhost}': an exclusive queue belongs to the connection that declared it");
            return;
        }

        // "type" (classic, quorum, stream) is informational: the x-queue-type argument, when the client gave one, is in "arguments".
        document.Queues.Add(new(vhost, new QueueDefinition(name, durable, Exclusive: false, autoDelete, arguments)));
    }

    private static void ReadBinding(JsonElement entry, string where, DefinitionsDocument document)
    {
        var source = RequireString(entry, "source", where, allowEmpty: true);
        var vhost = RequireString(entry, "vhost", where);
        var destination = RequireString(entry, "destination", where);
        var destinationType = RequireString(entry, "destination_type", where);
        var routingKey = OptionalString(entry, "routing_key", where) ?? string.Empty;
        var arguments = entry.TryGetProperty("arguments", out var args) ? Arguments(args, "arguments", where) : [];
        var target = destinationType switch
        {
            "queue" => Destination.Queue(destination),
            "exchange" => Destination.Exchange(destination),
            _ => throw new DefinitionsException($"{where}: \"destination_type\" is '{destinationType}'; expected queue or exchange"),
        };
        if (source.Length == 0)
        {
            document.Skipped.Add($"binding from the default exchange to {target} in vhost '{vhost}': every queue has it implicitly");
            return;
        }

        document.Bindings.Add(new DefinedBinding(vhost, source, target, routingKey, arguments));
    }

    private static Dictionary<string, object?> Arguments(JsonElement element, string field, string where)
    {
        if (element.ValueKind == JsonValueKind.Null)
        {
            return [];
        }

        try
        {
            return JsonArgumentValues.ToArguments(element);
        }
        catch (FormatException ex)
        {
            throw new DefinitionsException($"{where}: \"{field}\": {ex.Message}", ex);
        }
    }

    private static bool HasEntries(JsonElement entry, string field) =>
        entry.TryGetProperty(field, out var value) && value.ValueKind switch
        {
            JsonValueKind.Object => value.EnumerateObject().Any(),
            JsonValueKind.Array => value.GetArrayLength() > 0,
            _ => false,
        };

    private static string RequireString(JsonElement entry, string field, string where, bool allowEmpty = false)
    {
        if (!entry.TryGetProperty(field, out var value))
        {
            throw new DefinitionsException($"{where}: \"{field}\" is missing");
        }

        if (value.ValueKind != JsonValueKind.String)
        {
            throw new DefinitionsException($"{where}: \"{field}\" holds {JsonArgumentValues.Describe(value.ValueKind)}; it must be a string");
        }

        var text = value.GetString()!;
        if (text.Length == 0 && !allowEmpty)
        {
            throw new DefinitionsException($"{where}: \"{field}\" is empty");
        }

        return text;
    }

    private static string? OptionalString(JsonElement entry, string field, string where)
    {
        if (!entry.TryGetProperty(field, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        return value.ValueKind == JsonValueKind.String
            ? value.GetString()
            : throw new DefinitionsException($"{where}: \"{field}\" holds {JsonArgumentValues.Describe(value.ValueKind)}; it must be a string");
    }

    private static bool RequireBool(JsonElement entry, string field, string where) =>
        OptionalBool(entry, field, where) ?? throw new DefinitionsException($"{where}: \"{field}\" is missing");

    private static bool? OptionalBool(JsonElement entry, string field, string where)
    {
        if (!entry.TryGetProperty(field, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        return value.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw new DefinitionsException($"{where}: \"{field}\" holds {JsonArgumentValues.Describe(value.ValueKind)}; it must be true or false"),
        };
    }
}
