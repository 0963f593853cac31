using System.Buffers;
using System.Security.Cryptography;
using Holdfast.Broker.Messages;
using Holdfast.Broker.Routing;

namespace Holdfast.Broker.Topology;

/// <summary>
/// How durable exchanges, queues and bindings are kept as store metadata. Keys carry the vhost's
/// length so that no choice of names can make two keys collide:
/// <c>exchange/{vhost length}/{vhost}/{name}</c>, <c>queue/…</c>, and
/// <c>binding/{vhost length}/{vhost}/{SHA-256 of the value}</c>. Values, little-endian:
/// <code>
/// exchange: u8 version 1, u8 kind, u8 flags (1 durable, 2 auto-delete, 4 internal, 8 x-delayed-message), table arguments
/// queue:    u8 version 1, u8 flags (1 durable, 2 exclusive, 4 auto-delete), table arguments
/// binding:  u8 version 1, str source, u8 destination kind, str destination, str key, table arguments
/// policy:   u8 version 1, str pattern, u8 apply-to, i32 priority, table definition
/// </code>
/// with str and table as in <see cref="StoredMessageFormat"/>.
/// </summary>
internal static class TopologyFormat
{
    private const byte Version = 1;

    public static string ExchangeKey(string vhost, string name) => $"exchange/{vhost.Length}/{vhost}/{name}";

    public static string QueueKey(string vhost, string name) => $"queue/{vhost.Length}/{vhost}/{name}";

    /// <summary>When a durable queue with x-expires was last used (u64 Unix ms), so its lease survives restarts.</summary>
    public static string LastUseKey(string vhost, string name) => $"lastuse/{vhost.Length}/{vhost}/{name}";

    /// <summary>A stored message waiting out a retry delay (value: u64 due time, Unix ms), so the back-off survives restarts.</summary>
    public static string RetryKey(string vhost, string queue, long seq) => $"retry/{vhost.Length}/{vhost}/{queue.Length}/{queue}/{seq}";

    /// <summary>The queue name and sequence number from the name part of a retry key.</summary>
    public static bool TryParseRetryName(string name, out string queue, out long seq)
    {
        queue = string.Empty;
        seq = -1;
        var slash = name.IndexOf('/', StringComparison.Ordinal);
        if (slash < 0 || !int.TryParse(name.AsSpan(0, slash), System.Globalization.CultureInfo.InvariantCulture, out var length)
            || slash + 1 + length >= name.Length || name[slash + 1 + length] != '/')
        {
            return false;
        }

        queue = name.Substring(slash + 1, length);
        return long.TryParse(name.AsSpan(slash + 2 + length), System.Globalization.CultureInfo.InvariantCulture, out seq);
    }

    public static string PolicyKey(string vhost, string name) => $"policy/{vhost.Length}/{vhost}/{name}";

    public static byte[] Encode(Policies.PolicyDefinition policy)
    {
        var output = new ArrayBufferWriter<byte>(64);
        var writer = new StoredMessageFormat.Writer(output);
        writer.U8(Version);
        writer.Str(policy.Pattern);
        writer.U8((byte)policy.ApplyTo);
        writer.U32(unchecked((uint)policy.Priority));
        writer.Table(AsTable(policy.Definition), 1);
        return output.WrittenSpan.ToArray();
    }

    public static Policies.PolicyDefinition DecodePolicy(string name, byte[] value)
    {
        var reader = new StoredMessageFormat.Reader(value);
        CheckVersion(reader.U8(), "policy", name);
        var pattern = reader.Str();
        var applyTo = (Policies.PolicyTarget)reader.U8();
        var priority = unchecked((int)reader.U32());
        return new Policies.PolicyDefinition(name, pattern, applyTo, priority, AsDictionary(reader.Table(1)));
    }

    public static string BindingKey(string vhost, ReadOnlySpan<byte> encoded) => $"binding/{vhost.Length}/{vhost}/{Convert.ToHexString(SHA256.HashData(encoded))}";

    /// <summary>The store's name for a queue's index: unique across vhosts.</summary>
    public static string StoredQueueName(string vhost, string name) => $"{vhost.Length}/{vhost}/{name}";

    public static bool TryParseKey(string key, out string kind, out string vhost, out string name)
    {
        kind = vhost = name = string.Empty;
        var slash = key.IndexOf('/', StringComparison.Ordinal);
        if (slash < 0)
        {
            return false;
        }

        kind = key[..slash];
        var lengthEnd = key.IndexOf('/', slash + 1);
        if (lengthEnd < 0 || !int.TryParse(key.AsSpan(slash + 1, lengthEnd - slash - 1), System.Globalization.CultureInfo.InvariantCulture, out var length))
        {
            return false;
        }

        var vhostStart = lengthEnd + 1;
        if (length < 0 || vhostStart + length >= key.Length || key[vhostStart + length] != '/')
        {
            return false;
        }

        vhost = key.Substring(vhostStart, length);
        name = key[(vhostStart + length + 1)..];
        return true;
    }

    public static bool TryParseStoredQueueName(string storedName, out string vhost, out string name)
    {
        vhost = name = string.Empty;
        var slash = storedName.IndexOf('/', StringComparison.Ordinal);
        if (slash < 0 || !int.TryParse(storedName.AsSpan(0, slash), System.Globalization.CultureInfo.InvariantCulture, out var length)
            || length < 0 || slash + 1 + length >= storedName.Length || storedName[slash + 1 + length] != '/')
        {
            return false;
        }

        vhost = storedName.Substring(slash + 1, length);
        name = storedName[(slash + 2 + length)..];
        return true;
    }

    public static byte[] Encode(ExchangeDefinition exchange)
    {
        var output = new ArrayBufferWriter<byte>(64);
        var writer = new StoredMessageFormat.Writer(output);
        writer.U8(Version);
        writer.U8((byte)exchange.Kind);
        writer.U8((byte)((exchange.Durable ? 1 : 0) | (exchange.AutoDelete ? 2 : 0) | (exchange.Internal ? 4 : 0) | (exchange.DelayedMessage ? 8 : 0)));
        writer.Table(AsTable(exchange.Arguments), 1);
        return output.WrittenSpan.ToArray();
    }

    public static byte[] Encode(QueueDefinition queue)
    {
        var output = new ArrayBufferWriter<byte>(64);
        var writer = new StoredMessageFormat.Writer(output);
        writer.U8(Version);
        writer.U8((byte)((queue.Durable ? 1 : 0) | (queue.Exclusive ? 2 : 0) | (queue.AutoDelete ? 4 : 0)));
        writer.Table(AsTable(queue.Arguments), 1);
        return output.WrittenSpan.ToArray();
    }

    public static byte[] Encode(string source, Binding binding)
    {
        var output = new ArrayBufferWriter<byte>(64);
        var writer = new StoredMessageFormat.Writer(output);
        writer.U8(Version);
        writer.Str(source);
        writer.U8((byte)binding.Destination.Kind);
        writer.Str(binding.Destination.Name);
        writer.Str(binding.RoutingKey);
        writer.Table(AsTable(binding.Arguments ?? TopologyArguments.Empty), 1);
        return output.WrittenSpan.ToArray();
    }

    public static ExchangeDefinition DecodeExchange(string name, byte[] value)
    {
        var reader = new StoredMessageFormat.Reader(value);
        CheckVersion(reader.U8(), "exchange", name);
        var kind = (ExchangeKind)reader.U8();
        var flags = reader.U8();
        var arguments = AsDictionary(reader.Table(1));
        return new ExchangeDefinition(name, kind, (flags & 1) != 0, (flags & 2) != 0, (flags & 4) != 0, arguments) { DelayedMessage = (flags & 8) != 0 };
    }

    public static QueueDefinition DecodeQueue(string name, byte[] value)
    {
        var reader = new StoredMessageFormat.Reader(value);
        CheckVersion(reader.U8(), "queue", name);
        var flags = reader.U8();
        var arguments = AsDictionary(reader.Table(1));
        return new QueueDefinition(name, (flags & 1) != 0, (flags & 2) != 0, (flags & 4) != 0, arguments);
    }

    public static (string Source, Binding Binding) DecodeBinding(byte[] value)
    {
        var reader = new StoredMessageFormat.Reader(value);
        CheckVersion(reader.U8(), "binding", "?");
        var source = reader.Str();
        var kind = (DestinationKind)reader.U8();
        var destination = reader.Str();
        var key = reader.Str();
        var arguments = AsDictionary(reader.Table(1));
        return (source, new Binding(new Destination(kind, destination), key, arguments.Count == 0 ? null : arguments));
    }

    public static MessageHeaders AsTable(IReadOnlyDictionary<string, object?> arguments) =>
        new(arguments.OrderBy(a => a.Key, StringComparer.Ordinal));

    private static Dictionary<string, object?> AsDictionary(MessageHeaders table)
    {
        var result = new Dictionary<string, object?>(StringComparer.Ordinal);
        foreach (var (key, value) in table)
        {
            result[key] = value;
        }

        return result;
    }

    private static void CheckVersion(byte version, string what, string name)
    {
        if (version != Version)
        {
            throw new InvalidDataException($"The stored {what} '{name}' has format version {version}; this broker reads version {Version}.");
        }
    }
}
