using System.Text;
using Holdfast.Amqp.Codec;
using Holdfast.Broker.Messages;

namespace Holdfast.Amqp.Mapping;

/// <summary>
/// Field-table values to the broker's neutral header values and back, one .NET type per AMQP type
/// (see <see cref="MessageProperties"/>), so that AMQP -> broker -> AMQP gives back an equal
/// <see cref="FieldTable"/>: an Int8 stays an Int8, a long string that is not valid UTF-8 stays its
/// bytes (<see cref="TextValue"/>), a byte array stays a byte array, tables and arrays keep their
/// order, duplicate names and types, decimals keep their scale.
/// </summary>
/// <remarks>
/// <para>
/// Two things do not survive, because the broker model has no room for them: a boolean sent as an
/// octet other than 0 or 1 comes back as 1 (it is still true), and a table entry name that is not
/// valid UTF-8 becomes a string with U+FFFD in place of the bad bytes.
/// </para>
/// <para>
/// Toward the broker, long strings share the table's memory (a decoded table owns its bytes and is
/// immutable); byte arrays are copied, since the model's <c>byte[]</c> is mutable and the table's
/// bytes are usually a slice. Toward AMQP, nothing is copied: the broker's header values are
/// treated as immutable, as messages are shared.
/// </para>
/// <para>
/// Nesting is limited to <see cref="FieldTable.MaxDepth"/> both ways, the outermost table or array
/// being level 1. Decoded tables never exceed it; a broker value that does (or that contains
/// itself) is refused with an <see cref="ArgumentException"/> rather than overflowing the stack.
/// </para>
/// </remarks>
public static class HeaderValueMapper
{
    /// <summary>The broker value for one field value (a table or array in it is level 1).</summary>
    public static object? ToBroker(FieldValue value) => ValueToBroker(value, 0);

    /// <summary>A field table as broker headers: same order, duplicate names kept.</summary>
    public static MessageHeaders ToHeaders(FieldTable table)
    {
        ArgumentNullException.ThrowIfNull(table);
        return TableToBroker(table, 1);
    }

    /// <summary>The field value for one broker value (a table or array in it is level 1).</summary>
    /// <exception cref="ArgumentException">A type with no AMQP counterpart, a name longer than 255 UTF-8 bytes, or nesting beyond <see cref="FieldTable.MaxDepth"/>.</exception>
    public static FieldValue ToFieldValue(object? value) => ValueToAmqp(value, 0);

    /// <summary>Broker headers (or any ordered name/value list) as a field table: same order, duplicates kept.</summary>
    /// <exception cref="ArgumentException">As for <see cref="ToFieldValue(object?)"/>.</exception>
    public static FieldTable ToFieldTable(IReadOnlyList<KeyValuePair<string, object?>> headers)
    {
        ArgumentNullException.ThrowIfNull(headers);
        return TableToAmqp(headers, 1);
    }

    /// <summary>A table entry name as a string (UTF-8; invalid bytes become U+FFFD).</summary>
    internal static string NameToBroker(ShortString name) => name.IsEmpty ? string.Empty : Encoding.UTF8.GetString(name.Span);

    /// <summary>A string as a short string, refusing one longer than 255 UTF-8 bytes with a message naming <paramref name="what"/>.</summary>
    internal static ShortString ToShortString(string value, string what)
    {
        if (value.Length == 0)
        {
            return ShortString.Empty;
        }

        // A char is at most 3 UTF-8 bytes, so short strings of up to 85 chars need no counting.
        if (value.Length > ShortString.MaxLength / 3)
        {
            int byteCount = Encoding.UTF8.GetByteCount(value);
            if (byteCount > ShortString.MaxLength)
            {
                throw new ArgumentException($"{what} is {byteCount} UTF-8 bytes; an AMQP 0-9-1 short string holds at most {ShortString.MaxLength}.", nameof(value));
            }
        }

        return new ShortString(Encoding.UTF8.GetBytes(value));
    }

    internal static MessageHeaders TableToBroker(FieldTable table, int depth)
    {
        CheckDepth(depth);
        if (table.Count == 0)
        {
            return MessageHeaders.Empty;
        }

        var entries = new KeyValuePair<string, object?>[table.Count];
        var source = table.Entries;
        for (int i = 0; i < entries.Length; i++)
        {
            entries[i] = new(NameToBroker(source[i].Name), ValueToBroker(source[i].Value, depth));
        }

        return new MessageHeaders(entries);
    }

    internal static FieldTable TableToAmqp(IReadOnlyList<KeyValuePair<string, object?>> table, int depth)
    {
        CheckDepth(depth);
        if (table.Count == 0)
        {
            return FieldTable.Empty;
        }

        var entries = new FieldTableEntry[table.Count];
        for (int i = 0; i < entries.Length; i++)
        {
            var (name, value) = table[i];
            entries[i] = new(ToShortString(name ?? throw new ArgumentException("A header name is null.", nameof(table)), "A header name"), ValueToAmqp(value, depth));
        }

        return FieldTable.FromOwnedEntries(entries);
    }

    /// <summary>A value found inside a table or array at level <paramref name="depth"/> (0 for a value on its own).</summary>
    internal static object? ValueToBroker(FieldValue value, int depth) => value.Kind switch
    {
        FieldValueKind.Void => null,
        FieldValueKind.Boolean => value.AsBoolean(),
        FieldValueKind.Int8 => value.AsInt8(),
        FieldValueKind.UInt8 => value.AsUInt8(),
        FieldValueKind.Int16 => value.AsInt16(),
        FieldValueKind.UInt16 => value.AsUInt16(),
        FieldValueKind.Int32 => value.AsInt32(),
        FieldValueKind.UInt32 => value.AsUInt32(),
        FieldValueKind.Int64 => value.AsInt64(),
        FieldValueKind.Float32 => value.AsFloat32(),
        FieldValueKind.Float64 => value.AsFloat64(),
        FieldValueKind.Decimal => ToBroker(value.AsDecimal()),
        FieldValueKind.Timestamp => new TimestampValue(value.AsTimestamp().UnixSeconds),
        FieldValueKind.LongString => new TextValue(value.AsBytes()),
        FieldValueKind.ByteArray => value.AsBytes().ToArray(),
        FieldValueKind.Table => TableToBroker(value.AsTable(), depth + 1),
        FieldValueKind.Array => ArrayToBroker(value.AsArray(), depth + 1),
        _ => throw new ArgumentException($"Field value kind {value.Kind} has no broker counterpart.", nameof(value)),
    };

    /// <summary>A broker value found inside a table or list at level <paramref name="depth"/> (0 for a value on its own).</summary>
    internal static FieldValue ValueToAmqp(object? value, int depth) => value switch
    {
        null => FieldValue.Void,
        bool v => FieldValue.FromBoolean(v),
        sbyte v => FieldValue.FromInt8(v),
        byte v => FieldValue.FromUInt8(v),
        short v => FieldValue.FromInt16(v),
        ushort v => FieldValue.FromUInt16(v),
        int v => FieldValue.FromInt32(v),
        uint v => FieldValue.FromUInt32(v),
        long v => FieldValue.FromInt64(v),
        float v => FieldValue.FromFloat32(v),
        double v => FieldValue.FromFloat64(v),
        DecimalValue v => FieldValue.FromDecimal(new AmqpDecimal(v.Scale, v.Unscaled)),
        TimestampValue v => FieldValue.FromTimestamp(new AmqpTimestamp(v.UnixSeconds)),
        TextValue v => FieldValue.FromLongString(v.Utf8),

        // Not produced by this mapper, but broker code may write a plain string where it means text.
        string v => FieldValue.FromString(v),
        byte[] v => FieldValue.FromByteArray(v),

        // Tables before arrays: a name/value list is the broker's table, whatever class carries it.
        IReadOnlyList<KeyValuePair<string, object?>> v => FieldValue.FromTable(TableToAmqp(v, depth + 1)),
        IReadOnlyList<object?> v => FieldValue.FromArray(ArrayToAmqp(v, depth + 1)),
        _ => throw new ArgumentException($"A header value of type {value.GetType()} has no AMQP 0-9-1 field type; see MessageProperties for the supported types.", nameof(value)),
    };

    private static DecimalValue ToBroker(AmqpDecimal value) => new(value.Scale, value.UnscaledValue);

    private static object?[] ArrayToBroker(FieldArray array, int depth)
    {
        CheckDepth(depth);
        if (array.Count == 0)
        {
            return [];
        }

        var items = new object?[array.Count];
        var source = array.Values;
        for (int i = 0; i < items.Length; i++)
        {
            items[i] = ValueToBroker(source[i], depth);
        }

        return items;
    }

    private static FieldArray ArrayToAmqp(IReadOnlyList<object?> list, int depth)
    {
        CheckDepth(depth);
        if (list.Count == 0)
        {
            return FieldArray.Empty;
        }

        var values = new FieldValue[list.Count];
        for (int i = 0; i < values.Length; i++)
        {
            values[i] = ValueToAmqp(list[i], depth);
        }

        return FieldArray.FromOwnedValues(values);
    }

    private static void CheckDepth(int depth)
    {
        if (depth > FieldTable.MaxDepth)
        {
            throw new ArgumentException($"Header tables and arrays nest at most {FieldTable.MaxDepth} deep (or a value contains itself).", nameof(depth));
        }
    }
}
