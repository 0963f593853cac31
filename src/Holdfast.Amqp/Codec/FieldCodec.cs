using System.Buffers.Binary;

namespace Holdfast.Amqp.Codec;

/// <summary>
/// Field tables and arrays on the wire: a 32-bit byte length, then entries (short-string name, type
/// octet, value) or values (type octet, value). Every length is checked against the bytes that are
/// actually there before anything is sliced or allocated, and nesting is bounded by
/// <see cref="FieldTable.MaxDepth"/>, so hostile input costs at most its own size.
/// </summary>
internal static class FieldCodec
{
    /// <summary>
    /// Reads a table from the start of <paramref name="source"/> and copies its bytes once, so the
    /// table (and every string in it) owns its memory.
    /// </summary>
    public static bool TryReadTable(ReadOnlySpan<byte> source, string field, out FieldTable table, out int consumed, ref DecodeFailure failure)
    {
        table = FieldTable.Empty;
        consumed = 0;
        if (source.Length < 4)
        {
            return failure.Fail(ReplyCode.FrameError, field, $"needs 4 bytes for a table length, but only {source.Length} remain");
        }

        uint length = BinaryPrimitives.ReadUInt32BigEndian(source);
        if (length > (uint)(source.Length - 4))
        {
            return failure.Fail(ReplyCode.FrameError, field, $"is a table of {length} bytes, but only {source.Length - 4} bytes follow");
        }

        if (length > 0)
        {
            byte[] owned = source.Slice(4, (int)length).ToArray();
            var nested = default(DecodeFailure);
            if (!TryParseTableBody(owned, depth: 1, out table, ref nested))
            {
                return failure.Fail(nested.Code, field, nested.Detail!);
            }
        }

        consumed = 4 + (int)length;
        return true;
    }

    public static void WriteTable(ref ArgumentWriter writer, FieldTable table)
    {
        writer.WriteUInt32((uint)table.EncodedBodyLength);
        foreach (var entry in table.Entries)
        {
            writer.WriteShortString(entry.Name);
            WriteValue(ref writer, entry.Value);
        }
    }

    private static bool TryParseTableBody(ReadOnlyMemory<byte> body, int depth, out FieldTable table, ref DecodeFailure failure)
    {
        table = FieldTable.Empty;
        var reader = new ArgumentReader(body);

        // Every entry takes at least 2 bytes (empty name, 'V'), which bounds the list by the input.
        var entries = new List<FieldTableEntry>();
        while (!reader.IsAtEnd)
        {
            if (!reader.TryReadShortString("name", out var name))
            {
                return failure.Fail(reader.Failure.Code, "name", $"entry name {reader.Failure.Detail}");
            }

            if (!TryReadValue(ref reader, depth, out var value))
            {
                return failure.Fail(reader.Failure.Code, "value", $"in entry '{name}': {reader.Failure.Detail}");
            }

            entries.Add(new FieldTableEntry(name, value));
        }

        table = FieldTable.FromOwnedEntries([.. entries]);
        return true;
    }

    private static bool TryParseArrayBody(ReadOnlyMemory<byte> body, int depth, out FieldArray array, ref DecodeFailure failure)
    {
        array = FieldArray.Empty;
        var reader = new ArgumentReader(body);
        var values = new List<FieldValue>();
        while (!reader.IsAtEnd)
        {
            if (!TryReadValue(ref reader, depth, out var value))
            {
                return failure.Fail(reader.Failure.Code, "value", $"in array element {values.Count}: {reader.Failure.Detail}");
            }

            values.Add(value);
        }

        array = FieldArray.FromOwnedValues([.. values]);
        return true;
    }

    /// <param name="depth">Nesting level of the table or array that holds this value.</param>
    private static bool TryReadValue(ref ArgumentReader reader, int depth, out FieldValue value)
    {
        value = default;
        if (!reader.TryReadOctet("type", out byte tag))
        {
            return false;
        }

        switch ((FieldValueKind)tag)
        {
            case FieldValueKind.Boolean:
                {
                    bool ok = reader.TryReadOctet("boolean", out byte octet);
                    value = FieldValue.FromBooleanOctet(octet);
                    return ok;
                }

            case FieldValueKind.Int8:
                {
                    bool ok = reader.TryReadOctet("int8", out byte octet);
                    value = FieldValue.FromInt8(unchecked((sbyte)octet));
                    return ok;
                }

            case FieldValueKind.UInt8:
                {
                    bool ok = reader.TryReadOctet("uint8", out byte octet);
                    value = FieldValue.FromUInt8(octet);
                    return ok;
                }

            case FieldValueKind.Int16:
                {
                    bool ok = reader.TryReadUInt16("int16", out ushort raw);
                    value = FieldValue.FromInt16(unchecked((short)raw));
                    return ok;
                }

            case FieldValueKind.UInt16:
                {
                    bool ok = reader.TryReadUInt16("uint16", out ushort raw);
                    value = FieldValue.FromUInt16(raw);
                    return ok;
                }

            case FieldValueKind.Int32:
                {
                    bool ok = reader.TryReadUInt32("int32", out uint raw);
                    value = FieldValue.FromInt32(unchecked((int)raw));
                    return ok;
                }

            case FieldValueKind.UInt32:
                {
                    bool ok = reader.TryReadUInt32("uint32", out uint raw);
                    value = FieldValue.FromUInt32(raw);
                    return ok;
                }

            case FieldValueKind.Int64:
                {
                    bool ok = reader.TryReadUInt64("int64", out ulong raw);
                    value = FieldValue.FromInt64(unchecked((long)raw));
                    return ok;
                }

            case FieldValueKind.Float32:
                {
                    bool ok = reader.TryReadUInt32("float", out uint raw);
                    value = FieldValue.FromFloat32(BitConverter.Int32BitsToSingle(unchecked((int)raw)));
                    return ok;
                }

            case FieldValueKind.Float64:
                {
                    bool ok = reader.TryReadUInt64("double", out ulong raw);
                    value = FieldValue.FromFloat64(BitConverter.Int64BitsToDouble(unchecked((long)raw)));
                    return ok;
                }

            case FieldValueKind.Decimal:
                {
                    if (!reader.TryReadOctet("decimal scale", out byte scale) || !reader.TryReadUInt32("decimal value", out uint raw))
                    {
                        return false;
                    }

                    value = FieldValue.FromDecimal(new AmqpDecimal(scale, unchecked((int)raw)));
                    return true;
                }

            case FieldValueKind.Timestamp:
                {
                    bool ok = reader.TryReadTimestamp("timestamp", out var timestamp);
                    value = FieldValue.FromTimestamp(timestamp);
                    return ok;
                }

            case FieldValueKind.LongString:
                {
                    bool ok = reader.TryReadByteRun("long string", "long string", out var bytes);
                    value = FieldValue.FromLongString(bytes);
                    return ok;
                }

            case FieldValueKind.ByteArray:
                {
                    bool ok = reader.TryReadByteRun("byte array", "byte array", out var bytes);
                    value = FieldValue.FromByteArray(bytes);
                    return ok;
                }

            case FieldValueKind.Void:
                value = FieldValue.Void;
                return true;

            case FieldValueKind.Table:
                {
                    if (!reader.TryReadByteRun("table", "nested table", out var body) || !CheckDepth(ref reader, depth))
                    {
                        return false;
                    }

                    var nested = default(DecodeFailure);
                    if (!TryParseTableBody(body, depth + 1, out var table, ref nested))
                    {
                        return reader.Fail(nested.Code, "table", nested.Detail!);
                    }

                    value = FieldValue.FromTable(table);
                    return true;
                }

            case FieldValueKind.Array:
                {
                    if (!reader.TryReadByteRun("array", "nested array", out var body) || !CheckDepth(ref reader, depth))
                    {
                        return false;
                    }

                    var nested = default(DecodeFailure);
                    if (!TryParseArrayBody(body, depth + 1, out var array, ref nested))
                    {
                        return reader.Fail(nested.Code, "array", nested.Detail!);
                    }

                    value = FieldValue.FromArray(array);
                    return true;
                }

            default:
                return reader.Fail(ReplyCode.FrameError, "type", $"unknown field value type 0x{tag:X2} at offset {reader.Position - 1}");
        }
    }

    private static bool CheckDepth(ref ArgumentReader reader, int depth) =>
        depth + 1 <= FieldTable.MaxDepth
        || reader.Fail(ReplyCode.SyntaxError, "value", $"nests tables and arrays deeper than {FieldTable.MaxDepth} levels");

    private static void WriteValue(ref ArgumentWriter writer, FieldValue value)
    {
        var kind = value.Kind;
        writer.WriteOctet((byte)kind);
        long scalar = value.RawScalar;
        switch (kind)
        {
            case FieldValueKind.Boolean:
            case FieldValueKind.Int8:
            case FieldValueKind.UInt8:
                writer.WriteOctet(unchecked((byte)scalar));
                break;
            case FieldValueKind.Int16:
            case FieldValueKind.UInt16:
                writer.WriteUInt16(unchecked((ushort)scalar));
                break;
            case FieldValueKind.Int32:
            case FieldValueKind.UInt32:
            case FieldValueKind.Float32:
                writer.WriteUInt32(unchecked((uint)scalar));
                break;
            case FieldValueKind.Int64:
            case FieldValueKind.Float64:
            case FieldValueKind.Timestamp:
                writer.WriteUInt64(unchecked((ulong)scalar));
                break;
            case FieldValueKind.Decimal:
                var decimalValue = value.AsDecimal();
                writer.WriteOctet(decimalValue.Scale);
                writer.WriteUInt32(unchecked((uint)decimalValue.UnscaledValue));
                break;
            case FieldValueKind.LongString:
            case FieldValueKind.ByteArray:
                writer.WriteByteRun(value.RawBytes.Span);
                break;
            case FieldValueKind.Table:
                WriteTable(ref writer, value.AsTable());
                break;
            case FieldValueKind.Array:
                var array = value.AsArray();
                writer.WriteUInt32((uint)array.EncodedBodyLength);
                foreach (var element in array.Values)
                {
                    WriteValue(ref writer, element);
                }

                break;
            case FieldValueKind.Void:
                break;
            default:
                throw new InvalidOperationException($"Field value kind {kind} has no encoding.");
        }
    }
}
