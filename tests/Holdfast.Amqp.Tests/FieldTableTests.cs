using Holdfast.Amqp.Codec;
using static Holdfast.Amqp.Tests.Support.Wire;

namespace Holdfast.Amqp.Tests;

public sealed class FieldTableTests
{
    /// <summary>One entry per type letter RabbitMQ accepts, with values that show sign and byte order.</summary>
    private static readonly byte[] EveryType = Table(
        Entry("bool", 't', Octet(1)),
        Entry("i8", 'b', Hex("FE")),
        Entry("u8", 'B', Hex("FF")),
        Entry("i16", 's', Hex("FFFE")),
        Entry("u16", 'u', Hex("FFFF")),
        Entry("i32", 'I', Hex("FFFFFFFE")),
        Entry("u32", 'i', Hex("FFFFFFFF")),
        Entry("i64", 'l', Hex("FFFFFFFFFFFFFFFE")),
        Entry("f32", 'f', Hex("3FC00000")),
        Entry("f64", 'd', Hex("3FF8000000000000")),
        Entry("dec", 'D', Hex("02 FFFFFB2E")),
        Entry("str", 'S', LongStr("héllo")),
        Entry("bin", 'x', Hex("00000003 010203")),
        Entry("arr", 'A', Hex("0000000E"), Hex("49 00000001"), Hex("53 00000001 61"), Hex("56"), Hex("74 00")),
        Entry("ts", 'T', Hex("000000006553F100")),
        Entry("tab", 'F', Table(Entry("n", 'V'))),
        Entry("void", 'V'));

    [Fact]
    public void Every_field_type_decodes_to_its_value()
    {
        var table = Decode(EveryType);

        Assert.Equal(17, table.Count);
        Assert.True(Get(table, "bool").AsBoolean());
        Assert.Equal(-2, Get(table, "i8").AsInt8());
        Assert.Equal(255, Get(table, "u8").AsUInt8());
        Assert.Equal(-2, Get(table, "i16").AsInt16());
        Assert.Equal(65535, Get(table, "u16").AsUInt16());
        Assert.Equal(-2, Get(table, "i32").AsInt32());
        Assert.Equal(uint.MaxValue, Get(table, "u32").AsUInt32());
        Assert.Equal(-2L, Get(table, "i64").AsInt64());
        Assert.Equal(1.5f, Get(table, "f32").AsFloat32());
        Assert.Equal(1.5d, Get(table, "f64").AsFloat64());
        Assert.Equal(new AmqpDecimal(2, -1234), Get(table, "dec").AsDecimal());
        Assert.Equal(-12.34m, Get(table, "dec").AsDecimal().ToDecimal());
        Assert.Equal("héllo", Get(table, "str").AsString());
        Assert.Equal(new byte[] { 1, 2, 3 }, Get(table, "bin").AsBytes().ToArray());
        Assert.Equal(FieldValueKind.ByteArray, Get(table, "bin").Kind);
        var array = Get(table, "arr").AsArray();
        Assert.Equal(4, array.Count);
        Assert.Equal(1, array[0].AsInt32());
        Assert.Equal("a", array[1].AsString());
        Assert.Equal(FieldValueKind.Void, array[2].Kind);
        Assert.False(array[3].AsBoolean());
        Assert.Equal(new DateTimeOffset(2023, 11, 14, 22, 13, 20, TimeSpan.Zero), Get(table, "ts").AsTimestamp().ToDateTimeOffset());
        Assert.Equal(FieldValueKind.Void, Get(table, "tab").AsTable()[0].Value.Kind);
        Assert.Equal(FieldValueKind.Void, Get(table, "void").Kind);
    }

    [Fact]
    public void Every_field_type_encodes_back_byte_for_byte()
    {
        Assert.Equal(Convert.ToHexString(EveryType), Convert.ToHexString(Encode(Decode(EveryType))));
    }

    [Fact]
    public void A_table_built_in_code_encodes_to_the_golden_bytes()
    {
        var table = new FieldTable(
            new("bool", FieldValue.FromBoolean(true)),
            new("i8", FieldValue.FromInt8(-2)),
            new("u8", FieldValue.FromUInt8(255)),
            new("i16", FieldValue.FromInt16(-2)),
            new("u16", FieldValue.FromUInt16(65535)),
            new("i32", FieldValue.FromInt32(-2)),
            new("u32", FieldValue.FromUInt32(uint.MaxValue)),
            new("i64", FieldValue.FromInt64(-2)),
            new("f32", FieldValue.FromFloat32(1.5f)),
            new("f64", FieldValue.FromFloat64(1.5)),
            new("dec", FieldValue.FromDecimal(new AmqpDecimal(2, -1234))),
            new("str", FieldValue.FromString("héllo")),
            new("bin", FieldValue.FromByteArray(new byte[] { 1, 2, 3 })),
            new("arr", FieldValue.FromArray(new FieldArray(FieldValue.FromInt32(1), FieldValue.FromString("a"), FieldValue.Void, FieldValue.FromBoolean(false)))),
            new("ts", FieldValue.FromTimestamp(new AmqpTimestamp(1700000000))),
            new("tab", FieldValue.FromTable(new FieldTable(new FieldTableEntry("n", FieldValue.Void)))),
            new("void", FieldValue.Void));

        Assert.Equal(EveryType.Length, table.EncodedLength);
        Assert.Equal(Convert.ToHexString(EveryType), Convert.ToHexString(Encode(table)));
        Assert.Equal(table, Decode(EveryType));
    }

    [Fact]
    public void Order_duplicates_and_odd_bytes_survive_a_round_trip()
    {
        byte[] encoded = Table(
            Entry("z", 'I', U32(1)),
            Entry("a", 'I', U32(2)),
            Entry("z", 'I', U32(3)),
            Entry("nan", 'd', Hex("7FF8000000000BAD")),
            Entry("yes", 't', Octet(7)),
            Entry("bad-utf8", 'S', Hex("00000002 C328")));

        var table = Decode(encoded);

        Assert.Equal(["z", "a", "z", "nan", "yes", "bad-utf8"], table.Entries.ToArray().Select(e => e.Name.ToString()));
        Assert.True(table.TryGetValue("z", out var first));
        Assert.Equal(1, first.AsInt32());
        Assert.True(table[4].Value.AsBoolean());
        Assert.Equal(Convert.ToHexString(encoded), Convert.ToHexString(Encode(table)));
    }

    [Fact]
    public void Integer_arguments_of_any_width_read_as_int64()
    {
        var table = Decode(Table(Entry("a", 'b', Hex("FF")), Entry("b", 'u', Hex("0100")), Entry("c", 'l', U64(5)), Entry("d", 'S', LongStr("5"))));

        Assert.True(table[0].Value.TryGetInt64(out long a));
        Assert.Equal(-1, a);
        Assert.True(table[1].Value.TryGetInt64(out long b));
        Assert.Equal(256, b);
        Assert.True(table[2].Value.TryGetInt64(out long c));
        Assert.Equal(5, c);
        Assert.False(table[3].Value.TryGetInt64(out _));
    }

    [Fact]
    public void Decoded_tables_own_their_bytes()
    {
        byte[] encoded = Table(Entry("key", 'S', LongStr("value")));
        var table = Decode(encoded);

        Array.Clear(encoded);

        Assert.Equal("key", table[0].Name.ToString());
        Assert.Equal("value", table[0].Value.AsString());
    }

    [Fact]
    public void Nesting_up_to_the_depth_limit_decodes()
    {
        var table = Decode(Nested(FieldTable.MaxDepth));

        int depth = 1;
        for (var inner = table; inner.Count > 0; inner = inner[0].Value.AsTable())
        {
            depth++;
        }

        Assert.Equal(FieldTable.MaxDepth, depth);
    }

    [Theory]
    [InlineData(FieldTable.MaxDepth + 1)]
    [InlineData(100_000)]
    public void Nesting_past_the_depth_limit_is_a_syntax_error_not_a_stack_overflow(int depth)
    {
        Assert.False(FieldTable.TryDecode(Nested(depth), out _, out _, out var error));
        Assert.Equal(ReplyCode.SyntaxError, error.Code);
        Assert.Contains("deeper than 64", error.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Arrays_count_toward_the_depth_limit()
    {
        // Table, then 64 arrays nested inside it: 65 levels.
        byte[] value = Hex("56");
        for (int i = 0; i < FieldTable.MaxDepth; i++)
        {
            value = Concat([(byte)'A'], U32((uint)value.Length), value);
        }

        byte[] encoded = Concat(U32((uint)(2 + value.Length)), ShortStr("a"), value);

        Assert.False(FieldTable.TryDecode(encoded, out _, out _, out var error));
        Assert.Equal(ReplyCode.SyntaxError, error.Code);
    }

    [Fact]
    public void Building_a_table_past_the_depth_limit_is_refused()
    {
        var table = FieldTable.Empty;
        for (int depth = 1; depth < FieldTable.MaxDepth; depth++)
        {
            table = new FieldTable(new FieldTableEntry("t", FieldValue.FromTable(table)));
        }

        Assert.Throws<ArgumentException>(() => new FieldTable(new FieldTableEntry("t", FieldValue.FromTable(table))));
    }

    [Fact]
    public void A_length_beyond_the_input_is_refused_before_anything_is_allocated()
    {
        byte[] lies = Hex("7FFFFFF0 01 61 53 7FFFFFFF");

        long before = GC.GetAllocatedBytesForCurrentThread();
        bool decoded = FieldTable.TryDecode(lies, out _, out _, out var error);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.False(decoded);
        Assert.Equal(ReplyCode.FrameError, error.Code);
        Assert.True(allocated < 2048, $"{allocated} bytes allocated");
    }

    [Theory]
    [InlineData("00000006 01 61 53 7FFFFFFF")] // long string longer than the table
    [InlineData("00000003 01 61 51")] // 'Q' is no field type
    [InlineData("00000003 05 61 62")] // name runs past the table
    [InlineData("00000004 01 61 49 00")] // int32 cut short
    [InlineData("00000007 01 61 46 00000001")] // nested table longer than the outer one
    public void Malformed_tables_are_frame_errors(string hex)
    {
        Assert.False(FieldTable.TryDecode(Hex(hex), out _, out _, out var error));
        Assert.Equal(ReplyCode.FrameError, error.Code);
    }

    [Fact]
    public void Every_truncation_is_an_error_and_never_an_exception()
    {
        for (int length = 0; length < EveryType.Length; length++)
        {
            Assert.False(FieldTable.TryDecode(EveryType.AsSpan(0, length), out _, out _, out var error), $"length {length}");
            Assert.NotEqual(default, error.Code);
        }
    }

    [Fact]
    public void Short_strings_hold_at_most_255_bytes()
    {
        Assert.Equal(255, ShortString.FromString(new string('a', 255)).Length);
        Assert.Throws<ArgumentException>(() => ShortString.FromString(new string('a', 256)));
        Assert.Throws<ArgumentException>(() => ShortString.FromString(new string('é', 128)));
    }

    /// <summary>
    /// A table nested <paramref name="depth"/> levels: each level is one entry "t" of type 'F'.
    /// Written front to back in one buffer, since each level is 7 bytes larger than the one inside.
    /// </summary>
    private static byte[] Nested(int depth)
    {
        var bytes = new byte[(7 * (depth - 1)) + 4];
        int offset = 0;
        for (int level = depth; level > 1; level--)
        {
            U32((uint)(bytes.Length - offset - 4)).CopyTo(bytes, offset);
            bytes[offset + 4] = 1;
            bytes[offset + 5] = (byte)'t';
            bytes[offset + 6] = (byte)'F';
            offset += 7;
        }

        return bytes;
    }

    private static FieldTable Decode(byte[] encoded)
    {
        Assert.True(FieldTable.TryDecode(encoded, out var table, out int consumed, out var error), error.Reason);
        Assert.Equal(encoded.Length, consumed);
        return table;
    }

    private static byte[] Encode(FieldTable table)
    {
        var bytes = new byte[table.EncodedLength];
        Assert.Equal(bytes.Length, table.WriteTo(bytes));
        return bytes;
    }

    private static FieldValue Get(FieldTable table, string name)
    {
        Assert.True(table.TryGetValue(name, out var value), name);
        return value;
    }
}
