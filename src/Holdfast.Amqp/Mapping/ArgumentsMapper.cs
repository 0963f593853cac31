using System.Collections.ObjectModel;
using Holdfast.Amqp.Codec;

namespace Holdfast.Amqp.Mapping;

/// <summary>
/// The arguments table of queue.declare, exchange.declare, queue.bind, exchange.bind and
/// basic.consume as the broker's name -> value dictionary, and back. Values map as
/// <see cref="HeaderValueMapper"/> describes.
/// </summary>
/// <remarks>
/// A dictionary has one value per name: when a table repeats a name, the last entry wins (as
/// RabbitMQ's own <c>rabbit_misc:amqp_table</c> has it). Names keep the position of their first
/// entry, so a table without repeats comes back in its order.
/// </remarks>
public static class ArgumentsMapper
{
    /// <summary>The arguments of <paramref name="table"/>; an empty table gives a shared empty dictionary.</summary>
    public static IReadOnlyDictionary<string, object?> ToDictionary(FieldTable table)
    {
        ArgumentNullException.ThrowIfNull(table);
        if (table.Count == 0)
        {
            return ReadOnlyDictionary<string, object?>.Empty;
        }

        var arguments = new Dictionary<string, object?>(table.Count, StringComparer.Ordinal);
        foreach (var entry in table.Entries)
        {
            arguments[HeaderValueMapper.NameToBroker(entry.Name)] = HeaderValueMapper.ValueToBroker(entry.Value, 1);
        }

        return arguments.AsReadOnly();
    }

    /// <summary>The arguments as a field table, in the dictionary's order; null or empty gives <see cref="FieldTable.Empty"/>.</summary>
    /// <exception cref="ArgumentException">A name longer than 255 UTF-8 bytes, a value with no AMQP type, or nesting beyond <see cref="FieldTable.MaxDepth"/>.</exception>
    public static FieldTable ToFieldTable(IReadOnlyDictionary<string, object?>? args)
    {
        if (args is null || args.Count == 0)
        {
            return FieldTable.Empty;
        }

        var entries = new FieldTableEntry[args.Count];
        int i = 0;
        foreach (var (name, value) in args)
        {
            if (i == entries.Length)
            {
                throw new ArgumentException("The arguments yielded more entries than their count.", nameof(args));
            }

            entries[i++] = new(HeaderValueMapper.ToShortString(name, "An argument name"), HeaderValueMapper.ValueToAmqp(value, 1));
        }

        return i == entries.Length ? FieldTable.FromOwnedEntries(entries) : FieldTable.FromOwnedEntries(entries[..i]);
    }
}
