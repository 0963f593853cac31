using System.Text;
using Holdfast.Conformance.Tests.Broker;
using Holdfast.Conformance.Tests.Support;
using RabbitMQ.Client;

namespace Holdfast.Conformance.Tests.Semantics;

/// <summary>
/// Helpers for the TTL / dead-lettering / delivery-limit tests: one broker, one connection, one setup channel, and
/// everything declared through it deleted again at the end (so a long-lived external broker does not fill up).
/// </summary>
internal sealed class SemanticsScope : IAsyncDisposable
{
    private readonly List<string> _queues = [];
    private readonly List<string> _exchanges = [];

    private SemanticsScope(InProcessBroker broker, IConnection connection, IChannel setup)
    {
        Broker = broker;
        Connection = connection;
        Setup = setup;
    }

    public InProcessBroker Broker { get; }

    public IConnection Connection { get; }

    /// <summary>A confirming channel for declarations and publishes.</summary>
    public IChannel Setup { get; }

    /// <summary>The broker on the other end is RabbitMQ (as opposed to Holdfast).</summary>
    public bool IsRabbitMq => BrokerKit.IsRabbitMq(Connection);

    public static async Task<SemanticsScope> StartAsync()
    {
        var broker = await InProcessBroker.StartAsync();
        try
        {
            var connection = await broker.Factory().CreateConnectionAsync();
            var setup = await connection.CreateConfirmingChannelAsync();
            return new SemanticsScope(broker, connection, setup);
        }
        catch
        {
            await broker.DisposeAsync();
            throw;
        }
    }

    public async Task<string> ExchangeAsync(string prefix, string type)
    {
        var name = BrokerKit.Unique(prefix);
        await Setup.ExchangeDeclareAsync(name, type, durable: false, autoDelete: false);
        _exchanges.Add(name);
        return name;
    }

    /// <summary>A non-durable, non-exclusive queue with these arguments (values as they go on the wire).</summary>
    public async Task<string> QueueAsync(string prefix, params (string Key, object Value)[] arguments)
    {
        var name = BrokerKit.Unique(prefix);
        await Setup.QueueDeclareAsync(name, durable: false, exclusive: false, autoDelete: false, arguments: Arguments(arguments));
        _queues.Add(name);
        return name;
    }

    /// <summary>A durable quorum queue (<c>x-queue-type: quorum</c>); Holdfast accepts and ignores the type.</summary>
    public async Task<string> QuorumQueueAsync(string prefix, params (string Key, object Value)[] arguments)
    {
        var name = BrokerKit.Unique(prefix);
        var all = Arguments(arguments);
        all["x-queue-type"] = "quorum";
        await Setup.QueueDeclareAsync(name, durable: true, exclusive: false, autoDelete: false, arguments: all);
        _queues.Add(name);
        return name;
    }

    /// <summary>A plain queue bound to <paramref name="exchange"/> with <paramref name="bindingKey"/>.</summary>
    public async Task<string> BoundQueueAsync(string prefix, string exchange, string bindingKey = "")
    {
        var queue = await QueueAsync(prefix);
        await Setup.QueueBindAsync(queue, exchange, bindingKey);
        return queue;
    }

    /// <summary>A consumer (manual ack) on its own channel.</summary>
    public async Task<ProbeConsumer> ConsumeAsync(string queue, ushort prefetch = 0)
    {
        var channel = await Connection.CreateChannelAsync();
        if (prefetch > 0)
        {
            await channel.BasicQosAsync(0, prefetch, global: false);
        }

        var consumer = new ProbeConsumer(channel);
        await channel.BasicConsumeAsync(queue, autoAck: false, consumer);
        return consumer;
    }

    public Task PublishAsync(string exchange, string routingKey, string body, BasicProperties? properties = null) =>
        Setup.PublishAsync(exchange, routingKey, body, properties: properties);

    public Task<uint> ReadyAsync(string queue) => Connection.ReadyCountAsync(queue);

    public static Dictionary<string, object?> Arguments(params (string Key, object Value)[] arguments)
    {
        var table = new Dictionary<string, object?>(StringComparer.Ordinal);
        foreach (var (key, value) in arguments)
        {
            table[key] = value;
        }

        return table;
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (Connection.IsOpen)
            {
                await using var cleanup = await Connection.CreateChannelAsync();
                foreach (var queue in _queues)
                {
                    await cleanup.QueueDeleteAsync(queue);
                }

                foreach (var exchange in _exchanges)
                {
                    await cleanup.ExchangeDeleteAsync(exchange);
                }

                await cleanup.CloseAsync();
            }
        }
#pragma warning disable CA1031 // Cleanup is best effort; the test's own assertions already decided the outcome.
        catch (Exception)
#pragma warning restore CA1031
        {
        }

        await Connection.DisposeAsync();
        await Broker.DisposeAsync();
    }
}

/// <summary>Reading the headers RabbitMQ writes on a dead-lettered message, typed as RabbitMQ.Client 7 presents them.</summary>
internal static class Deaths
{
    /// <summary>The keys of one x-death entry, without and with a per-message TTL.</summary>
    private static readonly string[] EntryKeys = ["count", "exchange", "queue", "reason", "routing-keys", "time"];

    /// <summary>A longstr header value: RabbitMQ.Client presents it as <c>byte[]</c>, never as a string.</summary>
    public static string LongString(object? value)
    {
        var bytes = Assert.IsType<byte[]>(value);
        return Encoding.UTF8.GetString(bytes);
    }

    public static IDictionary<string, object?> Headers(Delivery delivery)
    {
        Assert.True(delivery.Properties.IsHeadersPresent(), "the dead-lettered message has no headers");
        return delivery.Properties.Headers!;
    }

    /// <summary>The x-death array (AMQP array of tables): <c>List&lt;object&gt;</c> of <c>Dictionary&lt;string, object&gt;</c>.</summary>
    public static List<Dictionary<string, object?>> XDeath(Delivery delivery)
    {
        var headers = Headers(delivery);
        Assert.True(headers.ContainsKey("x-death"), "no x-death header: " + string.Join(", ", headers.Keys));
        var array = Assert.IsType<List<object>>(headers["x-death"]);
        return [.. array.Select(entry => Assert.IsType<Dictionary<string, object?>>(entry))];
    }

    /// <summary>
    /// Asserts one x-death entry field by field, with RabbitMQ's types: count a long, time an AmqpTimestamp (whole
    /// seconds), reason/queue/exchange longstr, routing-keys an array of longstr, original-expiration a longstr, and no
    /// other field.
    /// </summary>
    public static void AssertEntry(
        Dictionary<string, object?> entry,
        long count,
        string reason,
        string queue,
        string exchange,
        string[] routingKeys,
        string? originalExpiration,
        DateTimeOffset notBefore,
        DateTimeOffset notAfter)
    {
        // The whole entry as one text first, so that a failure shows every field that differs at once.
        var expected = $"count={count}(long) reason={reason} queue={queue} exchange={exchange} routing-keys=[{string.Join(",", routingKeys)}] time=(timestamp)"
            + (originalExpiration is null ? string.Empty : $" original-expiration={originalExpiration}");
        var actual = Describe(entry);
        Assert.True(expected == actual, $"x-death entry differs\nexpected: {expected}\nactual:   {actual}");

        var expectedKeys = originalExpiration is null ? EntryKeys : [.. EntryKeys, "original-expiration"];
        Assert.Equal(expectedKeys.Order(StringComparer.Ordinal), entry.Keys.Order(StringComparer.Ordinal));
        Assert.Equal(count, Assert.IsType<long>(entry["count"]));
        Assert.Equal(reason, LongString(entry["reason"]));
        Assert.Equal(queue, LongString(entry["queue"]));
        Assert.Equal(exchange, LongString(entry["exchange"]));
        var keys = Assert.IsType<List<object>>(entry["routing-keys"]);
        Assert.Equal(routingKeys, keys.Select(LongString));
        var time = Assert.IsType<AmqpTimestamp>(entry["time"]);
        Assert.InRange(time.UnixTime, notBefore.ToUnixTimeSeconds() - 1, notAfter.ToUnixTimeSeconds() + 1);
        if (originalExpiration is not null)
        {
            Assert.Equal(originalExpiration, LongString(entry["original-expiration"]));
        }
    }

    /// <summary>An x-death entry as text: the known fields in a fixed order (with the .NET type where it matters), then any others.</summary>
    public static string Describe(Dictionary<string, object?> entry)
    {
        static string Value(object? value) => value switch
        {
            byte[] bytes => Encoding.UTF8.GetString(bytes),
            List<object> list => "[" + string.Join(",", list.Select(Value)) + "]",
            long l => $"{l}(long)",
            AmqpTimestamp => "(timestamp)",
            null => "(null)",
            _ => $"{value}({value.GetType().Name})",
        };

        string[] order = ["count", "reason", "queue", "exchange", "routing-keys", "time", "original-expiration"];
        var known = order.Where(entry.ContainsKey).Select(k => $"{k}={Value(entry[k])}");
        var others = entry.Keys.Where(k => !order.Contains(k)).Order(StringComparer.Ordinal).Select(k => $"{k}={Value(entry[k])}");
        return string.Join(" ", known.Concat(others));
    }

    /// <summary>
    /// The top-level x-first-death-* headers (RabbitMQ 3.6.14+) and, from RabbitMQ 3.12 (and on every other broker),
    /// x-last-death-*. RabbitMQ 3.10 writes no x-last-death-* at all; 3.11 is not asserted either way.
    /// </summary>
    public static void AssertFirstAndLast(IConnection connection, Delivery delivery, (string Reason, string Queue, string Exchange) first, (string Reason, string Queue, string Exchange) last)
    {
        var headers = Headers(delivery);
        Assert.Equal(first.Reason, LongString(headers["x-first-death-reason"]));
        Assert.Equal(first.Queue, LongString(headers["x-first-death-queue"]));
        Assert.Equal(first.Exchange, LongString(headers["x-first-death-exchange"]));
        if (!BrokerKit.IsRabbitMqBefore(connection, 3, 12))
        {
            Assert.Equal(last.Reason, LongString(headers["x-last-death-reason"]));
            Assert.Equal(last.Queue, LongString(headers["x-last-death-queue"]));
            Assert.Equal(last.Exchange, LongString(headers["x-last-death-exchange"]));
        }
        else if (BrokerKit.IsRabbitMqBefore(connection, 3, 11))
        {
            Assert.DoesNotContain("x-last-death-reason", headers.Keys);
            Assert.DoesNotContain("x-last-death-queue", headers.Keys);
            Assert.DoesNotContain("x-last-death-exchange", headers.Keys);
        }
    }

    /// <summary>The death-related headers RabbitMQ adds at the top level, for the version of the broker at hand.</summary>
    public static string[] TopLevelDeathHeaders(IConnection connection) =>
        BrokerKit.IsRabbitMqBefore(connection, 3, 12)
            ? ["x-death", "x-first-death-exchange", "x-first-death-queue", "x-first-death-reason"]
            : ["x-death", "x-first-death-exchange", "x-first-death-queue", "x-first-death-reason", "x-last-death-exchange", "x-last-death-queue", "x-last-death-reason"];

    /// <summary>
    /// The header names of a message, sorted, without <c>x-dotnet-pub-seq-no</c>: RabbitMQ.Client 7 adds that header
    /// itself to every message published on a channel with publisher-confirmation tracking, so it is not the broker's.
    /// </summary>
    public static string[] HeaderNames(IDictionary<string, object?> headers) =>
        [.. headers.Keys.Where(k => k != "x-dotnet-pub-seq-no").Order(StringComparer.Ordinal)];

    /// <summary>The x-delivery-count header of a delivery (null when absent), which must be a long.</summary>
    public static long? DeliveryCount(Delivery delivery)
    {
        if (delivery.Properties.Headers is not { } headers || !headers.TryGetValue("x-delivery-count", out var value))
        {
            return null;
        }

        // RabbitMQ writes it as a long (AMQP 'l'), which RabbitMQ.Client presents as System.Int64.
        return Assert.IsType<long>(value);
    }
}
