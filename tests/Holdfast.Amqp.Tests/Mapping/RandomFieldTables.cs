using System.Text;
using Holdfast.Amqp.Codec;

namespace Holdfast.Amqp.Tests.Mapping;

/// <summary>
/// Random field tables from a seeded <see cref="Random"/>: every kind, raw float bit patterns (NaN
/// payloads, -0.0), long strings that are not UTF-8, repeated names, empty and nested tables and
/// arrays. Names are valid UTF-8 and booleans 0 or 1, the two things the broker model cannot carry
/// otherwise (see HeaderValueMapper).
/// </summary>
internal sealed class RandomFieldTables(int seed)
{
    private static readonly FieldValueKind[] Kinds = Enum.GetValues<FieldValueKind>();

    private static readonly string[] Names = ["a", "x-match", "x-message-ttl", "héllo", "名前", "", "dup", "🙂", "k1", "k2"];

    private readonly Random _random = new(seed);

    public FieldTable NextTable(int maxDepth = 4, int maxCount = 8)
    {
        int count = _random.Next(maxCount + 1);
        var entries = new FieldTableEntry[count];
        for (int i = 0; i < count; i++)
        {
            entries[i] = new FieldTableEntry(NextName(), NextValue(maxDepth - 1, maxCount));
        }

        return new FieldTable(entries);
    }

    public FieldValue NextValue(int maxDepth, int maxCount)
    {
        while (true)
        {
            var kind = Kinds[_random.Next(Kinds.Length)];
            if (kind is FieldValueKind.Table or FieldValueKind.Array && maxDepth <= 0)
            {
                continue;
            }

            return kind switch
            {
                FieldValueKind.Void => FieldValue.Void,
                FieldValueKind.Boolean => FieldValue.FromBoolean(_random.Next(2) == 1),
                FieldValueKind.Int8 => FieldValue.FromInt8((sbyte)_random.Next(sbyte.MinValue, sbyte.MaxValue + 1)),
                FieldValueKind.UInt8 => FieldValue.FromUInt8((byte)_random.Next(256)),
                FieldValueKind.Int16 => FieldValue.FromInt16((short)_random.Next(short.MinValue, short.MaxValue + 1)),
                FieldValueKind.UInt16 => FieldValue.FromUInt16((ushort)_random.Next(ushort.MaxValue + 1)),
                FieldValueKind.Int32 => FieldValue.FromInt32((int)NextBits()),
                FieldValueKind.UInt32 => FieldValue.FromUInt32((uint)NextBits()),
                FieldValueKind.Int64 => FieldValue.FromInt64((long)NextBits()),
                FieldValueKind.Float32 => FieldValue.FromFloat32(BitConverter.UInt32BitsToSingle(NextFloatBits32())),
                FieldValueKind.Float64 => FieldValue.FromFloat64(BitConverter.UInt64BitsToDouble(NextFloatBits64())),
                FieldValueKind.Decimal => FieldValue.FromDecimal(new AmqpDecimal((byte)_random.Next(256), (int)NextBits())),
                FieldValueKind.Timestamp => FieldValue.FromTimestamp(new AmqpTimestamp(NextBits())),
                FieldValueKind.LongString => FieldValue.FromLongString(NextBytes(utf8Only: _random.Next(2) == 0)),
                FieldValueKind.ByteArray => FieldValue.FromByteArray(NextBytes(utf8Only: false)),
                FieldValueKind.Table => FieldValue.FromTable(NextTable(maxDepth, maxCount)),
                FieldValueKind.Array => FieldValue.FromArray(NextArray(maxDepth, maxCount)),
                _ => throw new InvalidOperationException($"No generator for {kind}."),
            };
        }
    }

    private FieldArray NextArray(int maxDepth, int maxCount)
    {
        int count = _random.Next(maxCount + 1);
        var values = new FieldValue[count];
        for (int i = 0; i < count; i++)
        {
            values[i] = NextValue(maxDepth - 1, maxCount);
        }

        return new FieldArray(values);
    }

    private ShortString NextName() => Names[_random.Next(Names.Length)];

    private ulong NextBits() => _random.Next(4) switch
    {
        0 => 0,
        1 => ulong.MaxValue,
        2 => (ulong)_random.Next(-1000, 1000),
        _ => (ulong)_random.NextInt64() ^ ((ulong)_random.Next(2) << 63),
    };

    private uint NextFloatBits32() => _random.Next(5) switch
    {
        0 => 0x8000_0000, // -0.0
        1 => 0x7FC0_0001, // a quiet NaN with a payload
        2 => 0xFF80_0000, // -infinity
        _ => (uint)_random.NextInt64(),
    };

    private ulong NextFloatBits64() => _random.Next(5) switch
    {
        0 => 0x8000_0000_0000_0000, // -0.0
        1 => 0x7FF8_0000_0000_BEEF, // a quiet NaN with a payload
        2 => 0x7FF0_0000_0000_0000, // +infinity
        _ => (ulong)_random.NextInt64() ^ ((ulong)_random.Next(2) << 63),
    };

    private byte[] NextBytes(bool utf8Only)
    {
        if (utf8Only)
        {
            return Encoding.UTF8.GetBytes(Names[_random.Next(Names.Length)] + _random.Next());
        }

        var bytes = new byte[_random.Next(12)];
        _random.NextBytes(bytes);
        return bytes;
    }
}
