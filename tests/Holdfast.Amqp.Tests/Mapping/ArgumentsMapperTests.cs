using Holdfast.Amqp.Codec;
using Holdfast.Amqp.Mapping;
using Holdfast.Broker.Messages;

namespace Holdfast.Amqp.Tests.Mapping;

public sealed class ArgumentsMapperTests
{
    [Fact]
    public void Declare_arguments_become_a_dictionary_of_typed_values()
    {
        var table = new FieldTable(
            new("x-message-ttl", FieldValue.FromInt32(60_000)),
            new("x-max-length", FieldValue.FromInt64(10)),
            new("x-queue-type", FieldValue.FromString("quorum")),
            new("x-single-active-consumer", FieldValue.FromBoolean(true)),
            new("x-dead-letter-exchange", FieldValue.FromString("")),
            new("x-priority", FieldValue.FromUInt8(5)),
            new("x-custom", FieldValue.FromTable(new FieldTable(new FieldTableEntry("a", FieldValue.FromArray(new FieldArray(FieldValue.FromInt16(-1))))))),
            new("x-void", FieldValue.Void));

        var arguments = ArgumentsMapper.ToDictionary(table);

        Assert.Equal(8, arguments.Count);
        Assert.Equal(60_000, Assert.IsType<int>(arguments["x-message-ttl"]));
        Assert.Equal(10L, Assert.IsType<long>(arguments["x-max-length"]));
        Assert.Equal(new TextValue("quorum"), arguments["x-queue-type"]);
        Assert.True(Assert.IsType<bool>(arguments["x-single-active-consumer"]));
        Assert.Equal(0, Assert.IsType<TextValue>(arguments["x-dead-letter-exchange"]).Utf8.Length);
        Assert.Equal((byte)5, Assert.IsType<byte>(arguments["x-priority"]));
        var custom = Assert.IsType<MessageHeaders>(arguments["x-custom"]);
        Assert.Equal((short)-1, Assert.IsAssignableFrom<IReadOnlyList<object?>>(custom[0].Value)[0]);
        Assert.True(arguments.ContainsKey("x-void"));
        Assert.Null(arguments["x-void"]);
        Assert.False(arguments.ContainsKey("X-MESSAGE-TTL"));
    }

    [Fact]
    public void Arguments_without_repeated_names_come_back_as_the_same_table()
    {
        var table = new FieldTable(
            new("z-first", FieldValue.FromInt8(1)),
            new("a-second", FieldValue.FromLongString(new byte[] { 0xFF })),
            new("m-third", FieldValue.FromByteArray(new byte[] { 1, 2 })),
            new("b-fourth", FieldValue.FromDecimal(new AmqpDecimal(4, 12_345))),
            new("x-nested", FieldValue.FromTable(new FieldTable(new FieldTableEntry("t", FieldValue.FromTimestamp(new AmqpTimestamp(5)))))));

        var back = ArgumentsMapper.ToFieldTable(ArgumentsMapper.ToDictionary(table));

        Assert.Equal(table, back);
    }

    [Fact]
    public void A_repeated_name_takes_the_last_value_at_the_first_position()
    {
        var table = new FieldTable(
            new("x-max-length", FieldValue.FromInt32(1)),
            new("other", FieldValue.FromInt32(2)),
            new("x-max-length", FieldValue.FromInt64(3)));

        var arguments = ArgumentsMapper.ToDictionary(table);

        Assert.Equal(2, arguments.Count);
        Assert.Equal(3L, Assert.IsType<long>(arguments["x-max-length"]));
        Assert.Equal(["x-max-length", "other"], arguments.Keys.ToArray());
        var back = ArgumentsMapper.ToFieldTable(arguments);
        Assert.Equal(new FieldTable(new("x-max-length", FieldValue.FromInt64(3)), new("other", FieldValue.FromInt32(2))), back);
    }

    [Fact]
    public void No_arguments_give_shared_empty_instances_both_ways()
    {
        var first = ArgumentsMapper.ToDictionary(FieldTable.Empty);

        Assert.Empty(first);
        Assert.Same(first, ArgumentsMapper.ToDictionary(new FieldTable()));
        Assert.Same(FieldTable.Empty, ArgumentsMapper.ToFieldTable(null));
        Assert.Same(FieldTable.Empty, ArgumentsMapper.ToFieldTable(new Dictionary<string, object?>()));
        Assert.Same(FieldTable.Empty, ArgumentsMapper.ToFieldTable(first));
    }

    [Fact]
    public void The_dictionary_cannot_be_changed_through_a_cast()
    {
        var arguments = ArgumentsMapper.ToDictionary(new FieldTable(new FieldTableEntry("x-max-length", FieldValue.FromInt32(1))));

        Assert.IsNotType<Dictionary<string, object?>>(arguments);
        var asMutable = Assert.IsAssignableFrom<IDictionary<string, object?>>(arguments);
        Assert.True(asMutable.IsReadOnly);
        Assert.Throws<NotSupportedException>(() => asMutable["x-max-length"] = 2);

        Assert.Equal(1, arguments["x-max-length"]);
    }

    [Fact]
    public void Arguments_written_by_broker_code_map_to_their_amqp_types()
    {
        var arguments = new Dictionary<string, object?>
        {
            ["x-queue-type"] = "classic",
            ["x-message-ttl"] = 1000L,
            ["x-text"] = new TextValue(new byte[] { 0xC3, 0x28 }),
            ["x-list"] = new object?[] { (ushort)1, null },
        };

        var table = ArgumentsMapper.ToFieldTable(arguments);

        Assert.Equal(4, table.Count);
        Assert.True(table.TryGetValue("x-queue-type", out var type));
        Assert.Equal(FieldValueKind.LongString, type.Kind);
        Assert.Equal("classic", type.AsString());
        Assert.True(table.TryGetValue("x-message-ttl", out var ttl));
        Assert.Equal(1000L, ttl.AsInt64());
        Assert.True(table.TryGetValue("x-text", out var text));
        Assert.Equal(new byte[] { 0xC3, 0x28 }, text.AsBytes().ToArray());
        Assert.True(table.TryGetValue("x-list", out var list));
        Assert.Equal(new FieldArray(FieldValue.FromUInt16(1), FieldValue.Void), list.AsArray());
    }

    [Fact]
    public void Arguments_with_no_amqp_form_are_refused()
    {
        Assert.Throws<ArgumentException>(() => ArgumentsMapper.ToFieldTable(new Dictionary<string, object?> { ["x-when"] = DateTimeOffset.UnixEpoch }));
        Assert.Throws<ArgumentException>(() => ArgumentsMapper.ToFieldTable(new Dictionary<string, object?> { [new string('n', 256)] = 1 }));
    }
}
