namespace Holdfast.Amqp.Codec;

/// <summary>A field array ('A'): values in order, each with its own type. Immutable.</summary>
public sealed class FieldArray : IEquatable<FieldArray>
{
    private readonly FieldValue[] _values;

    public FieldArray(params ReadOnlySpan<FieldValue> values)
        : this(values.ToArray())
    {
    }

    public FieldArray(IEnumerable<FieldValue> values)
        : this(values?.ToArray() ?? throw new ArgumentNullException(nameof(values)))
    {
    }

    private FieldArray(FieldValue[] values)
    {
        long bodyLength = 0;
        int deepestChild = 0;
        foreach (var value in values)
        {
            bodyLength += value.EncodedLength;
            deepestChild = Math.Max(deepestChild, value.Depth);
        }

        if (bodyLength > int.MaxValue)
        {
            throw new ArgumentException($"A field array of {bodyLength} bytes is too large to encode.", nameof(values));
        }

        if (deepestChild + 1 > FieldTable.MaxDepth)
        {
            throw new ArgumentException($"Field tables and arrays nest at most {FieldTable.MaxDepth} deep.", nameof(values));
        }

        _values = values;
        EncodedBodyLength = (int)bodyLength;
        Depth = deepestChild + 1;
    }

    public static FieldArray Empty { get; } = new(Array.Empty<FieldValue>());

    public int Count => _values.Length;

    public ReadOnlySpan<FieldValue> Values => _values;

    public FieldValue this[int index] => _values[index];

    /// <summary>Bytes of the values on the wire, without the 4-byte length in front.</summary>
    public int EncodedBodyLength { get; }

    internal int Depth { get; }

    public bool Equals(FieldArray? other) =>
        other is not null && (ReferenceEquals(this, other) || _values.AsSpan().SequenceEqual(other._values));

    public override bool Equals(object? obj) => Equals(obj as FieldArray);

    public override int GetHashCode() => _values.Length;

    public override string ToString() => "[" + string.Join(", ", _values) + "]";

    internal static FieldArray FromOwnedValues(FieldValue[] values) => values.Length == 0 ? Empty : new FieldArray(values);
}
