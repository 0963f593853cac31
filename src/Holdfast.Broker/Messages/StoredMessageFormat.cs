using System.Buffers;
using System.Buffers.Binary;
using System.Text;

namespace Holdfast.Broker.Messages;

/// <summary>
/// How the broker writes a message into a storage record: its own format, independent of any wire
/// protocol, so that a message published through one door can be read back and served through
/// another. Little-endian:
/// <code>
/// u8   format version (2; version 1 lacks the next field)
/// u64  arrival time, Unix milliseconds (0: unknown), the start of its TTL
/// str  exchange, str routing key           (str = u16 length + UTF-8)
/// u16  property presence bits, bit i set when property i is present, in this order:
///      0 content-type (str), 1 content-encoding (str), 2 headers (table), 3 delivery-mode (u8),
///      4 priority (u8), 5 correlation-id, 6 reply-to, 7 expiration, 8 message-id (str),
///      9 timestamp (u64), 10 type, 11 user-id, 12 app-id, 13 cluster-id (str)
/// u32  body length, body
/// table = u32 count, count × (str name, value); value = u8 tag (HeaderValueTag) + its bytes:
///      integers and floats in their width, decimal = u8 scale + i32, text and bytes = u32 length + bytes,
///      timestamp = u64, array = u32 count + values, table as above
/// </code>
/// Decoding checks every length against what remains and nests at most <see cref="MaxDepth"/> deep.
/// </summary>
public static class StoredMessageFormat
{
    public const byte Version = 2;
    public const int MaxDepth = 64;

    public static void Write(BrokerMessage message, IBufferWriter<byte> output) => Write(message, output, 0);

    public static void Write(BrokerMessage message, IBufferWriter<byte> output, long arrivedAtMs)
    {
        WriteHead(message, output, arrivedAtMs);
        new Writer(output).Bytes(message.Body.Span);
    }

    /// <summary>
    /// Writes everything of the stored form but the body's bytes, up to and including the body's length: the
    /// stored form is this followed by <see cref="BrokerMessage.Body"/>, so a caller that can write the two parts
    /// side by side need not copy the body into <paramref name="output"/>.
    /// </summary>
    public static void WriteHead(BrokerMessage message, IBufferWriter<byte> output, long arrivedAtMs)
    {
        ArgumentNullException.ThrowIfNull(message);
        ArgumentNullException.ThrowIfNull(output);
        var writer = new Writer(output);
        writer.U8(Version);
        writer.U64((ulong)arrivedAtMs);
        writer.Str(message.Exchange);
        writer.Str(message.RoutingKey);
        var p = message.Properties;
        ushort presence = 0;
        object?[] fields = [p.ContentType, p.ContentEncoding, p.Headers, p.DeliveryMode, p.Priority, p.CorrelationId, p.ReplyTo, p.Expiration, p.MessageId, p.Timestamp, p.Type, p.UserId, p.AppId, p.ClusterId];
        for (var i = 0; i < fields.Length; i++)
        {
            if (fields[i] is not null)
            {
                presence |= (ushort)(1 << i);
            }
        }

        writer.U16(presence);
        foreach (var field in fields)
        {
            switch (field)
            {
                case null:
                    break;
                case string s:
                    writer.Str(s);
                    break;
                case MessageHeaders headers:
                    writer.Table(headers, 1);
                    break;
                case byte b:
                    writer.U8(b);
                    break;
                case ulong timestamp:
                    writer.U64(timestamp);
                    break;
                default:
                    throw new InvalidOperationException($"Unexpected property type {field.GetType()}.");
            }
        }

        writer.U32((uint)message.Body.Length);
    }

    public static BrokerMessage Read(ReadOnlyMemory<byte> stored) => Read(stored, out _);

    public static BrokerMessage Read(ReadOnlyMemory<byte> stored, out long arrivedAtMs)
    {
        var reader = new Reader(stored);
        var version = reader.U8();
        if (version is not (1 or Version))
        {
            throw new InvalidDataException($"Stored message format {version} is not supported (expected 1 or {Version}).");
        }

        arrivedAtMs = version >= 2 ? (long)reader.U64() : 0;

        var exchange = reader.Str();
        var routingKey = reader.Str();
        var presence = reader.U16();
        bool Has(int bit) => (presence & (1 << bit)) != 0;
        var properties = new MessageProperties
        {
            ContentType = Has(0) ? reader.Str() : null,
            ContentEncoding = Has(1) ? reader.Str() : null,
            Headers = Has(2) ? reader.Table(1) : null,
            DeliveryMode = Has(3) ? reader.U8() : null,
            Priority = Has(4) ? reader.U8() : null,
            CorrelationId = Has(5) ? reader.Str() : null,
            ReplyTo = Has(6) ? reader.Str() : null,
            Expiration = Has(7) ? reader.Str() : null,
            MessageId = Has(8) ? reader.Str() : null,
            Timestamp = Has(9) ? reader.U64() : null,
            Type = Has(10) ? reader.Str() : null,
            UserId = Has(11) ? reader.Str() : null,
            AppId = Has(12) ? reader.Str() : null,
            ClusterId = Has(13) ? reader.Str() : null,
        };
        var body = reader.Slice((int)reader.U32());
        return new BrokerMessage(exchange, routingKey, properties, body);
    }

    internal ref struct Writer(IBufferWriter<byte> output)
    {
        public readonly void U8(byte value) => Put(1)[0] = value;

        public readonly void U16(ushort value) => BinaryPrimitives.WriteUInt16LittleEndian(Put(2), value);

        public readonly void U32(uint value) => BinaryPrimitives.WriteUInt32LittleEndian(Put(4), value);

        public readonly void U64(ulong value) => BinaryPrimitives.WriteUInt64LittleEndian(Put(8), value);

        public readonly void Bytes(ReadOnlySpan<byte> value)
        {
            value.CopyTo(output.GetSpan(value.Length));
            output.Advance(value.Length);
        }

        public readonly void Str(string value)
        {
            var length = Encoding.UTF8.GetByteCount(value);
            if (length > ushort.MaxValue)
            {
                throw new ArgumentException("A name or property is longer than 65,535 UTF-8 bytes.", nameof(value));
            }

            U16((ushort)length);
            Encoding.UTF8.GetBytes(value, Put(length));
        }

        public readonly void Table(IReadOnlyList<KeyValuePair<string, object?>> table, int depth)
        {
            CheckDepth(depth);
            U32((uint)table.Count);
            foreach (var (name, value) in table)
            {
                Str(name);
                Value(value, depth);
            }
        }

        private readonly void Value(object? value, int depth)
        {
            switch (value)
            {
                case null: U8((byte)HeaderValueTag.Null); break;
                case bool v: U8((byte)HeaderValueTag.Boolean); U8(v ? (byte)1 : (byte)0); break;
                case sbyte v: U8((byte)HeaderValueTag.Int8); U8(unchecked((byte)v)); break;
                case byte v: U8((byte)HeaderValueTag.UInt8); U8(v); break;
                case short v: U8((byte)HeaderValueTag.Int16); U16(unchecked((ushort)v)); break;
                case ushort v: U8((byte)HeaderValueTag.UInt16); U16(v); break;
                case int v: U8((byte)HeaderValueTag.Int32); U32(unchecked((uint)v)); break;
                case uint v: U8((byte)HeaderValueTag.UInt32); U32(v); break;
                case long v: U8((byte)HeaderValueTag.Int64); U64(unchecked((ulong)v)); break;
                case float v: U8((byte)HeaderValueTag.Float32); U32(BitConverter.SingleToUInt32Bits(v)); break;
                case double v: U8((byte)HeaderValueTag.Float64); U64(BitConverter.DoubleToUInt64Bits(v)); break;
                case DecimalValue v: U8((byte)HeaderValueTag.Decimal); U8(v.Scale); U32(unchecked((uint)v.Unscaled)); break;
                case TextValue v: U8((byte)HeaderValueTag.Text); U32((uint)v.Utf8.Length); Bytes(v.Utf8.Span); break;
                case string v: Value(new TextValue(v), depth); break; // Broker-made values (arguments, x-death) may be plain strings; they read back as TextValue.
                case byte[] v: U8((byte)HeaderValueTag.Bytes); U32((uint)v.Length); Bytes(v); break;
                case TimestampValue v: U8((byte)HeaderValueTag.Timestamp); U64(v.UnixSeconds); break;
                case IReadOnlyList<KeyValuePair<string, object?>> table: U8((byte)HeaderValueTag.Table); Table(table, depth + 1); break;
                case IReadOnlyList<object?> array:
                    CheckDepth(depth + 1);
                    U8((byte)HeaderValueTag.Array);
                    U32((uint)array.Count);
                    foreach (var item in array)
                    {
                        Value(item, depth + 1);
                    }

                    break;
                default:
                    throw new ArgumentException($"Header values of type {value.GetType()} cannot be stored; see MessageProperties for the supported types.", nameof(value));
            }
        }

        private readonly Span<byte> Put(int length)
        {
            var span = output.GetSpan(length)[..length];
            output.Advance(length);
            return span;
        }
    }

    internal ref struct Reader(ReadOnlyMemory<byte> source)
    {
        private int _position;

        public byte U8() => Take(1)[0];

        public ushort U16() => BinaryPrimitives.ReadUInt16LittleEndian(Take(2));

        public uint U32() => BinaryPrimitives.ReadUInt32LittleEndian(Take(4));

        public ulong U64() => BinaryPrimitives.ReadUInt64LittleEndian(Take(8));

        public string Str() => Encoding.UTF8.GetString(Take(U16()));

        public ReadOnlyMemory<byte> Slice(int length)
        {
            Take(length);
            return source.Slice(_position - length, length);
        }

        public MessageHeaders Table(int depth)
        {
            CheckDepth(depth);
            var count = U32();
            if (count > (uint)(source.Length - _position))
            {
                throw new InvalidDataException($"A header table claims {count} entries in {source.Length - _position} bytes.");
            }

            var entries = new List<KeyValuePair<string, object?>>((int)count);
            for (var i = 0; i < count; i++)
            {
                var name = Str();
                entries.Add(new(name, Value(depth)));
            }

            return new MessageHeaders(entries);
        }

        private object? Value(int depth)
        {
            var tag = (HeaderValueTag)U8();
            return tag switch
            {
                HeaderValueTag.Null => null,
                HeaderValueTag.Boolean => U8() != 0,
                HeaderValueTag.Int8 => unchecked((sbyte)U8()),
                HeaderValueTag.UInt8 => U8(),
                HeaderValueTag.Int16 => unchecked((short)U16()),
                HeaderValueTag.UInt16 => U16(),
                HeaderValueTag.Int32 => unchecked((int)U32()),
                HeaderValueTag.UInt32 => U32(),
                HeaderValueTag.Int64 => unchecked((long)U64()),
                HeaderValueTag.Float32 => BitConverter.UInt32BitsToSingle(U32()),
                HeaderValueTag.Float64 => BitConverter.UInt64BitsToDouble(U64()),
                HeaderValueTag.Decimal => new DecimalValue(U8(), unchecked((int)U32())),
                HeaderValueTag.Text => new TextValue(Slice((int)U32()).ToArray()),
                HeaderValueTag.Bytes => Slice((int)U32()).ToArray(),
                HeaderValueTag.Timestamp => new TimestampValue(U64()),
                HeaderValueTag.Table => Table(depth + 1),
                HeaderValueTag.Array => Array(depth + 1),
                _ => throw new InvalidDataException($"Unknown header value tag {(byte)tag}."),
            };
        }

        private List<object?> Array(int depth)
        {
            CheckDepth(depth);
            var count = U32();
            if (count > (uint)(source.Length - _position))
            {
                throw new InvalidDataException($"A header array claims {count} items in {source.Length - _position} bytes.");
            }

            var items = new List<object?>((int)count);
            for (var i = 0; i < count; i++)
            {
                items.Add(Value(depth));
            }

            return items;
        }

        private ReadOnlySpan<byte> Take(int length)
        {
            if (length < 0 || length > source.Length - _position)
            {
                throw new InvalidDataException($"A stored message ends early: {length} bytes wanted at offset {_position} of {source.Length}.");
            }

            var span = source.Span.Slice(_position, length);
            _position += length;
            return span;
        }
    }

    private static void CheckDepth(int depth)
    {
        if (depth > MaxDepth)
        {
            throw new InvalidDataException($"Header tables and arrays nest at most {MaxDepth} deep.");
        }
    }
}
