namespace Holdfast.Broker.Messages;

/// <summary>
/// The headers RabbitMQ writes on a dead-lettered message: <c>x-death</c>, an array of tables, one
/// per (queue, reason) pair, most recent first, each with count, reason, queue, time, exchange,
/// routing-keys and, for a message that had a per-message TTL, original-expiration; and
/// <c>x-first-death-*</c> (set once) and <c>x-last-death-*</c> (set every time).
/// </summary>
public static class DeathHistory
{
    /// <summary>The message as it leaves <paramref name="queue"/> for the dead-letter exchange.</summary>
    public static BrokerMessage DeadLettered(BrokerMessage message, string queue, string reason, DateTimeOffset now, string deadLetterExchange, string? deadLetterRoutingKey)
    {
        ArgumentNullException.ThrowIfNull(message);
        var properties = message.Properties;
        var headers = properties.Headers ?? MessageHeaders.Empty;
        var deaths = headers.TryGetHeader("x-death", out var existing) && existing is IReadOnlyList<object?> list ? list : [];

        var entries = new List<object?>(deaths.Count + 1);
        MessageHeaders? previous = null;
        foreach (var death in deaths)
        {
            if (previous is null && death is MessageHeaders table && Text(table, "queue") == queue && Text(table, "reason") == reason)
            {
                previous = table;
                continue;
            }

            entries.Add(death);
        }

        if (previous is not null)
        {
            // Same queue, same reason again: RabbitMQ counts up on the entry and keeps the rest as first written.
            var count = previous.TryGetHeader("count", out var c) && c is long n ? n + 1 : 2L;
            entries.Insert(0, previous.With("count", count));
        }
        else
        {
            var fields = new List<KeyValuePair<string, object?>>
            {
                new("count", 1L),
                new("reason", new TextValue(reason)),
                new("queue", new TextValue(queue)),
                new("time", new TimestampValue((ulong)now.ToUnixTimeSeconds())),
                new("exchange", new TextValue(message.Exchange)),
                new("routing-keys", RoutingKeys(message)),
            };
            if (properties.Expiration is { } expiration)
            {
                fields.Add(new("original-expiration", new TextValue(expiration)));
            }

            entries.Insert(0, new MessageHeaders(fields));
        }

        var updated = headers.With("x-death", entries);
        if (!updated.TryGetHeader("x-first-death-reason", out _))
        {
            updated = updated
                .With("x-first-death-reason", new TextValue(reason))
                .With("x-first-death-queue", new TextValue(queue))
                .With("x-first-death-exchange", new TextValue(message.Exchange));
        }

        updated = updated
            .With("x-last-death-reason", new TextValue(reason))
            .With("x-last-death-queue", new TextValue(queue))
            .With("x-last-death-exchange", new TextValue(message.Exchange));

        if (deadLetterRoutingKey is not null)
        {
            // A new routing key replaces the CC keys too, as RabbitMQ does.
            updated = updated.Without("CC");
        }

        // The per-message TTL does not follow the message, or it would expire again at once.
        var newProperties = properties with { Headers = updated, Expiration = null };
        return new BrokerMessage(deadLetterExchange, deadLetterRoutingKey ?? message.RoutingKey, newProperties, message.Body);
    }

    /// <summary>The keys the message was routed with: its routing key, then the CC and BCC headers' (RabbitMQ's sender-selected distribution).</summary>
    private static List<object?> RoutingKeys(BrokerMessage message)
    {
        var keys = new List<object?> { new TextValue(message.RoutingKey) };
        if (message.Properties.Headers is { } headers)
        {
            foreach (var name in (string[])["CC", "BCC"])
            {
                if (headers.TryGetHeader(name, out var value) && value is IReadOnlyList<object?> extra)
                {
                    keys.AddRange(extra);
                }
            }
        }

        return keys;
    }

    private static string? Text(MessageHeaders table, string name) =>
        table.TryGetHeader(name, out var value) ? value switch
        {
            TextValue text => text.ToString(),
            string s => s,
            _ => null,
        } : null;
}
