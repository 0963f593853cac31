using System.Text;

namespace Holdfast.Amqp.Codec;

/// <summary>
/// An AMQP field table: named values in the order they were sent. Immutable, so one table can be
/// shared by every message or queue that carries it.
/// </summary>
/// <remarks>
/// Order and duplicate names are kept because the promise is to re-encode a decoded table byte for
/// byte; lookups return the first entry of a name. A decoded table owns its bytes (one copy of the
/// table's wire form), unlike the short strings of a decoded method: tables are what outlives a
/// frame (queue arguments, message headers).
/// </remarks>
public sealed class FieldTable : IEquatable<FieldTable>
{
    /// <summary>Deepest nesting of tables and arrays accepted, the table itself being level 1.</summary>
    /// <remarks>
    /// Decoding recurses once per level; in .NET a stack overflow ends the process and cannot be
    /// caught, so input deeper than this is refused (SYNTAX_ERROR) and so is building such a table.
    /// </remarks>
    public const int MaxDepth = 64;

    private readonly FieldTableEntry[] _entries;

    public FieldTable(params ReadOnlySpan<FieldTableEntry> entries)
        : this(entries.ToArray())
    {
    }

    public FieldTable(IEnumerable<FieldTableEntry> entries)
        : this(entries?.ToArray() ?? throw new ArgumentNullException(nameof(entries)))
    {
    }

    private FieldTable(FieldTableEntry[] entries)
    {
        long bodyLength = 0;
        int deepestChild = 0;
        foreach (var entry in entries)
        {
            bodyLength += 1 + entry.Name.Length + entry.Value.EncodedLength;
            deepestChild = Math.Max(deepestChild, entry.Value.Depth);
        }

        if (bodyLength > int.MaxValue)
        {
            throw new ArgumentException($"A field table of {bodyLength} bytes is too large to encode.", nameof(entries));
        }

        if (deepestChild + 1 > MaxDepth)
        {
            throw new ArgumentException($"Field tables and arrays nest at most {MaxDepth} deep.", nameof(entries));
        }

        _entries = entries;
        EncodedBodyLength = (int)bodyLength;
        Depth = deepestChild + 1;
    }

    public static FieldTable Empty { get; } = new(Array.Empty<FieldTableEntry>());

    public int Count => _entries.Length;

    public ReadOnlySpan<FieldTableEntry> Entries => _entries;

    public FieldTableEntry this[int index] => _entries[index];

    /// <summary>Bytes of the entries on the wire, without the 4-byte length in front.</summary>
    public int EncodedBodyLength { get; }

    /// <summary>Bytes on the wire, the 4-byte length included.</summary>
    public int EncodedLength => 4 + EncodedBodyLength;

    internal int Depth { get; }

    /// <summary>The first entry named <paramref name="name"/>.</summary>
    public bool TryGetValue(string name, out FieldValue value)
    {
        ArgumentNullException.ThrowIfNull(name);
        int byteCount = Encoding.UTF8.GetByteCount(name);
        if (byteCount > ShortString.MaxLength)
        {
            value = default;
            return false;
        }

        Span<byte> utf8 = stackalloc byte[byteCount];
        Encoding.UTF8.GetBytes(name, utf8);
        return TryGetValue(utf8, out value);
    }

    /// <summary>The first entry whose name is <paramref name="utf8Name"/>.</summary>
    public bool TryGetValue(ReadOnlySpan<byte> utf8Name, out FieldValue value)
    {
        foreach (var entry in _entries)
        {
            if (entry.Name.EqualsUtf8(utf8Name))
            {
                value = entry.Value;
                return true;
            }
        }

        value = default;
        return false;
    }

    /// <summary>Writes the table (length and entries) and returns the bytes written.</summary>
    /// <exception cref="ArgumentException"><paramref name="destination"/> is shorter than <see cref="EncodedLength"/>.</exception>
    public int WriteTo(Span<byte> destination)
    {
        if (destination.Length < EncodedLength)
        {
            throw new ArgumentException($"The table needs {EncodedLength} bytes, the destination has {destination.Length}.", nameof(destination));
        }

        var writer = new ArgumentWriter(destination);
        writer.WriteTable(this);
        return writer.Position;
    }

    /// <summary>
    /// Decodes a table (4-byte length, then entries) from the start of <paramref name="source"/>.
    /// The table gets its own copy of the bytes.
    /// </summary>
    public static bool TryDecode(ReadOnlySpan<byte> source, out FieldTable table, out int bytesConsumed, out AmqpError error)
    {
        var failure = default(DecodeFailure);
        if (FieldCodec.TryReadTable(source, "table", out table, out bytesConsumed, ref failure))
        {
            error = default;
            return true;
        }

        error = failure.ToError("cannot decode field table");
        return false;
    }

    public bool Equals(FieldTable? other) =>
        other is not null && (ReferenceEquals(this, other) || _entries.AsSpan().SequenceEqual(other._entries));

    public override bool Equals(object? obj) => Equals(obj as FieldTable);

    public override int GetHashCode()
    {
        var hash = new HashCode();
        hash.Add(_entries.Length);
        foreach (var entry in _entries)
        {
            hash.Add(entry.Name);
        }

        return hash.ToHashCode();
    }

    public override string ToString() =>
        "{" + string.Join(", ", _entries.Select(e => $"{e.Name}: {e.Value}")) + "}";

    internal static FieldTable FromOwnedEntries(FieldTableEntry[] entries) => entries.Length == 0 ? Empty : new FieldTable(entries);
}
