using System.Text;

namespace Holdfast.Amqp.Codec;

/// <summary>
/// One value in a field table or array: a small tagged union. Scalars share one 64-bit slot (floats
/// by their bit pattern, so NaN payloads survive a round trip), strings and byte arrays a memory
/// slot, and nested tables and arrays a reference.
/// </summary>
/// <remarks>
/// Equality is structural and bitwise: two NaNs with the same bits are equal, +0.0 and -0.0 are not.
/// That is what "the same bytes on the wire" means, which is what the codec promises.
/// </remarks>
public readonly struct FieldValue : IEquatable<FieldValue>
{
    private readonly FieldValueKind _kind;
    private readonly long _scalar;
    private readonly ReadOnlyMemory<byte> _bytes;
    private readonly object? _composite;

    private FieldValue(FieldValueKind kind, long scalar = 0, ReadOnlyMemory<byte> bytes = default, object? composite = null)
    {
        _kind = kind;
        _scalar = scalar;
        _bytes = bytes;
        _composite = composite;
    }

    /// <summary>The kind; <c>default(FieldValue)</c> is <see cref="FieldValueKind.Void"/>.</summary>
    public FieldValueKind Kind => _kind == 0 ? FieldValueKind.Void : _kind;

    public static FieldValue Void => new(FieldValueKind.Void);

    public static FieldValue FromBoolean(bool value) => new(FieldValueKind.Boolean, value ? 1 : 0);

    /// <summary>A boolean as its raw octet: any non-zero octet is true, and is echoed as sent.</summary>
    internal static FieldValue FromBooleanOctet(byte octet) => new(FieldValueKind.Boolean, octet);

    public static FieldValue FromInt8(sbyte value) => new(FieldValueKind.Int8, value);

    public static FieldValue FromUInt8(byte value) => new(FieldValueKind.UInt8, value);

    public static FieldValue FromInt16(short value) => new(FieldValueKind.Int16, value);

    public static FieldValue FromUInt16(ushort value) => new(FieldValueKind.UInt16, value);

    public static FieldValue FromInt32(int value) => new(FieldValueKind.Int32, value);

    public static FieldValue FromUInt32(uint value) => new(FieldValueKind.UInt32, value);

    public static FieldValue FromInt64(long value) => new(FieldValueKind.Int64, value);

    public static FieldValue FromFloat32(float value) => new(FieldValueKind.Float32, BitConverter.SingleToInt32Bits(value));

    public static FieldValue FromFloat64(double value) => new(FieldValueKind.Float64, BitConverter.DoubleToInt64Bits(value));

    public static FieldValue FromDecimal(AmqpDecimal value) => new(FieldValueKind.Decimal, ((long)value.Scale << 32) | (uint)value.UnscaledValue);

    public static FieldValue FromTimestamp(AmqpTimestamp value) => new(FieldValueKind.Timestamp, unchecked((long)value.UnixSeconds));

    /// <summary>A long string ('S') holding <paramref name="value"/> as UTF-8.</summary>
    public static FieldValue FromString(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        return new(FieldValueKind.LongString, bytes: Encoding.UTF8.GetBytes(value));
    }

    /// <summary>A long string ('S') of raw bytes.</summary>
    public static FieldValue FromLongString(ReadOnlyMemory<byte> bytes) => new(FieldValueKind.LongString, bytes: bytes);

    /// <summary>A byte array ('x').</summary>
    public static FieldValue FromByteArray(ReadOnlyMemory<byte> bytes) => new(FieldValueKind.ByteArray, bytes: bytes);

    public static FieldValue FromTable(FieldTable table)
    {
        ArgumentNullException.ThrowIfNull(table);
        return new(FieldValueKind.Table, composite: table);
    }

    public static FieldValue FromArray(FieldArray array)
    {
        ArgumentNullException.ThrowIfNull(array);
        return new(FieldValueKind.Array, composite: array);
    }

    public bool AsBoolean() => Expect(FieldValueKind.Boolean)._scalar != 0;

    public sbyte AsInt8() => (sbyte)Expect(FieldValueKind.Int8)._scalar;

    public byte AsUInt8() => (byte)Expect(FieldValueKind.UInt8)._scalar;

    public short AsInt16() => (short)Expect(FieldValueKind.Int16)._scalar;

    public ushort AsUInt16() => (ushort)Expect(FieldValueKind.UInt16)._scalar;

    public int AsInt32() => (int)Expect(FieldValueKind.Int32)._scalar;

    public uint AsUInt32() => (uint)Expect(FieldValueKind.UInt32)._scalar;

    public long AsInt64() => Expect(FieldValueKind.Int64)._scalar;

    public float AsFloat32() => BitConverter.Int32BitsToSingle((int)Expect(FieldValueKind.Float32)._scalar);

    public double AsFloat64() => BitConverter.Int64BitsToDouble(Expect(FieldValueKind.Float64)._scalar);

    public AmqpDecimal AsDecimal()
    {
        long packed = Expect(FieldValueKind.Decimal)._scalar;
        return new AmqpDecimal((byte)(packed >> 32), (int)packed);
    }

    public AmqpTimestamp AsTimestamp() => new(unchecked((ulong)Expect(FieldValueKind.Timestamp)._scalar));

    /// <summary>The bytes of a long string ('S') or byte array ('x').</summary>
    public ReadOnlyMemory<byte> AsBytes() =>
        Kind is FieldValueKind.LongString or FieldValueKind.ByteArray ? _bytes : throw WrongKind("LongString or ByteArray");

    /// <summary>A long string read as UTF-8.</summary>
    public string AsString() => Encoding.UTF8.GetString(Expect(FieldValueKind.LongString)._bytes.Span);

    public FieldTable AsTable() => (FieldTable)Expect(FieldValueKind.Table)._composite!;

    public FieldArray AsArray() => (FieldArray)Expect(FieldValueKind.Array)._composite!;

    /// <summary>
    /// Any integer kind, widened. Clients send numeric arguments (x-message-ttl, x-max-length) as
    /// whichever integer type their language maps to, so readers of those should accept all of them.
    /// </summary>
    public bool TryGetInt64(out long value)
    {
        switch (Kind)
        {
            case FieldValueKind.Int8:
            case FieldValueKind.UInt8:
            case FieldValueKind.Int16:
            case FieldValueKind.UInt16:
            case FieldValueKind.Int32:
            case FieldValueKind.UInt32:
            case FieldValueKind.Int64:
                value = _scalar;
                return true;
            default:
                value = 0;
                return false;
        }
    }

    /// <summary>Bytes this value takes in a table or array, its type octet included.</summary>
    internal int EncodedLength => Kind switch
    {
        FieldValueKind.Boolean or FieldValueKind.Int8 or FieldValueKind.UInt8 => 2,
        FieldValueKind.Int16 or FieldValueKind.UInt16 => 3,
        FieldValueKind.Int32 or FieldValueKind.UInt32 or FieldValueKind.Float32 => 5,
        FieldValueKind.Int64 or FieldValueKind.Float64 or FieldValueKind.Timestamp => 9,
        FieldValueKind.Decimal => 6,
        FieldValueKind.LongString or FieldValueKind.ByteArray => 5 + _bytes.Length,
        FieldValueKind.Table => 5 + ((FieldTable)_composite!).EncodedBodyLength,
        FieldValueKind.Array => 5 + ((FieldArray)_composite!).EncodedBodyLength,
        _ => 1,
    };

    /// <summary>Nesting levels this value adds: 0 for a scalar, the depth of a table or array.</summary>
    internal int Depth => _composite switch
    {
        FieldTable table => table.Depth,
        FieldArray array => array.Depth,
        _ => 0,
    };

    internal long RawScalar => _scalar;

    internal ReadOnlyMemory<byte> RawBytes => _bytes;

    public bool Equals(FieldValue other) =>
        Kind == other.Kind
        && _scalar == other._scalar
        && _bytes.Span.SequenceEqual(other._bytes.Span)
        && Equals(_composite, other._composite);

    public override bool Equals(object? obj) => obj is FieldValue other && Equals(other);

    public override int GetHashCode()
    {
        var hash = new HashCode();
        hash.Add(Kind);
        hash.Add(_scalar);
        hash.AddBytes(_bytes.Span);
        hash.Add(_composite);
        return hash.ToHashCode();
    }

    public override string ToString() => Kind switch
    {
        FieldValueKind.Void => "void",
        FieldValueKind.Boolean => AsBoolean() ? "true" : "false",
        FieldValueKind.Float32 => AsFloat32().ToString(System.Globalization.CultureInfo.InvariantCulture),
        FieldValueKind.Float64 => AsFloat64().ToString(System.Globalization.CultureInfo.InvariantCulture),
        FieldValueKind.Decimal => $"{AsDecimal()}",
        FieldValueKind.Timestamp => $"{AsTimestamp()}",
        FieldValueKind.LongString => $"\"{AsString()}\"",
        FieldValueKind.ByteArray => $"bytes[{_bytes.Length}]",
        FieldValueKind.Table or FieldValueKind.Array => _composite!.ToString()!,
        FieldValueKind.UInt32 => ((uint)_scalar).ToString(System.Globalization.CultureInfo.InvariantCulture),
        _ => _scalar.ToString(System.Globalization.CultureInfo.InvariantCulture),
    };

    public static bool operator ==(FieldValue left, FieldValue right) => left.Equals(right);

    public static bool operator !=(FieldValue left, FieldValue right) => !left.Equals(right);

    private FieldValue Expect(FieldValueKind kind) => Kind == kind ? this : throw WrongKind(kind.ToString());

    private InvalidOperationException WrongKind(string expected) => new($"The field value is {Kind}, not {expected}.");
}
