using System.Buffers;
using Holdfast.Amqp.Codec;
using Holdfast.Amqp.Mapping;
using Holdfast.Broker.Messages;

namespace Holdfast.Amqp.Tests.Mapping;

/// <summary>Seeded random tables: AMQP -> broker -> AMQP must give back an equal table, and the same wire bytes.</summary>
public sealed class RandomRoundTripTests
{
    private const int Iterations = 2_000;

    [Theory]
    [InlineData(20240611)]
    [InlineData(7)]
    public void Random_tables_come_back_equal_through_the_broker_model(int seed)
    {
        var tables = new RandomFieldTables(seed);
        int nonEmpty = 0;
        for (int i = 0; i < Iterations; i++)
        {
            var table = tables.NextTable();
            nonEmpty += table.Count > 0 ? 1 : 0;

            var back = HeaderValueMapper.ToFieldTable(HeaderValueMapper.ToHeaders(table));

            if (!table.Equals(back))
            {
                Assert.Fail($"seed {seed}, table {i}:\n  sent {table}\n  back {back}");
            }

            Assert.Equal(Encode(table), Encode(back));
        }

        // The generator must actually produce something to compare.
        Assert.True(nonEmpty > Iterations / 2, $"only {nonEmpty} non-empty tables");
    }

    [Fact]
    public void Random_headers_come_back_equal_through_properties_and_a_content_header()
    {
        var tables = new RandomFieldTables(1234);
        for (int i = 0; i < 500; i++)
        {
            var sent = new BasicProperties { Headers = tables.NextTable(), DeliveryMode = 2 };
            var wire = new ContentHeader(10, sent);
            var payload = new byte[wire.EncodedLength];
            wire.WriteTo(payload);
            Assert.True(ContentHeader.TryDecode(payload, out var decoded, out var error), error.Reason);

            var back = PropertiesMapper.ToAmqp(PropertiesMapper.ToBroker(decoded.Properties));

            if (!sent.Equals(back))
            {
                Assert.Fail($"table {i}:\n  sent {sent.Headers}\n  back {back.Headers}");
            }
        }
    }

    [Fact]
    public void Random_headers_come_back_equal_through_the_stored_message_format()
    {
        // The door's values must be what the broker's own record format stores: publish through
        // AMQP, store, read back, serve through AMQP.
        var tables = new RandomFieldTables(99);
        for (int i = 0; i < 500; i++)
        {
            var sent = new BasicProperties { Headers = tables.NextTable(), MessageId = $"m-{i}" };
            var output = new ArrayBufferWriter<byte>();
            StoredMessageFormat.Write(new BrokerMessage("x", "k", PropertiesMapper.ToBroker(sent), new byte[] { 1 }), output);

            var stored = StoredMessageFormat.Read(output.WrittenMemory);
            var back = PropertiesMapper.ToAmqp(stored.Properties);

            if (!sent.Equals(back))
            {
                Assert.Fail($"table {i}:\n  sent {sent.Headers}\n  back {back.Headers}");
            }
        }
    }

    private static byte[] Encode(FieldTable table)
    {
        var bytes = new byte[table.EncodedLength];
        Assert.Equal(bytes.Length, table.WriteTo(bytes));
        return bytes;
    }
}
