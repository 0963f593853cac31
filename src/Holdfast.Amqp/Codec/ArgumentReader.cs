using System.Buffers.Binary;

namespace Holdfast.Amqp.Codec;

/// <summary>
/// Big-endian reads of AMQP argument types from memory. Each read checks the remaining length
/// first and fails (returns false, records why) rather than throwing: a peer's bytes are input, not
/// a programming error. Strings are slices of the source, so reading allocates nothing; tables are
/// copied, see <see cref="FieldTable"/>.
/// </summary>
/// <remarks>Each read takes the spec's field name only to put it in the error.</remarks>
internal ref struct ArgumentReader
{
    private readonly ReadOnlyMemory<byte> _memory;
    private readonly ReadOnlySpan<byte> _span;
    private int _position;
    private DecodeFailure _failure;

    public ArgumentReader(ReadOnlyMemory<byte> source)
    {
        _memory = source;
        _span = source.Span;
    }

    public readonly int Position => _position;

    public readonly int Remaining => _span.Length - _position;

    public readonly bool IsAtEnd => _position == _span.Length;

    public readonly DecodeFailure Failure => _failure;

    public bool TryReadOctet(string field, out byte value)
    {
        if (Remaining < 1)
        {
            value = 0;
            return Truncated(field, 1);
        }

        value = _span[_position];
        _position += 1;
        return true;
    }

    public bool TryReadUInt16(string field, out ushort value)
    {
        if (Remaining < 2)
        {
            value = 0;
            return Truncated(field, 2);
        }

        value = BinaryPrimitives.ReadUInt16BigEndian(_span[_position..]);
        _position += 2;
        return true;
    }

    public bool TryReadUInt32(string field, out uint value)
    {
        if (Remaining < 4)
        {
            value = 0;
            return Truncated(field, 4);
        }

        value = BinaryPrimitives.ReadUInt32BigEndian(_span[_position..]);
        _position += 4;
        return true;
    }

    public bool TryReadUInt64(string field, out ulong value)
    {
        if (Remaining < 8)
        {
            value = 0;
            return Truncated(field, 8);
        }

        value = BinaryPrimitives.ReadUInt64BigEndian(_span[_position..]);
        _position += 8;
        return true;
    }

    public bool TryReadTimestamp(string field, out AmqpTimestamp value)
    {
        bool read = TryReadUInt64(field, out ulong seconds);
        value = new AmqpTimestamp(seconds);
        return read;
    }

    public bool TryReadShortString(string field, out ShortString value)
    {
        value = default;
        if (Remaining < 1)
        {
            return Truncated(field, 1);
        }

        int length = _span[_position];
        if (Remaining - 1 < length)
        {
            return _failure.Fail(ReplyCode.FrameError, field, $"is a short string of {length} bytes at offset {_position}, but only {Remaining - 1} bytes follow");
        }

        // The spec's short strings carry UTF-8, and everything that reads one as a name, key, tag or
        // property keeps it as a .NET string and encodes it again on the way out. Invalid bytes would
        // come back as U+FFFD (3 bytes each): different from what was sent, and possibly past 255 bytes,
        // so that a delivery carrying it could never be encoded. Refused here, once, for every field.
        var bytes = _memory.Slice(_position + 1, length);
        if (!System.Text.Unicode.Utf8.IsValid(bytes.Span))
        {
            return _failure.Fail(ReplyCode.SyntaxError, field, $"is a short string of {length} bytes at offset {_position} that is not valid UTF-8");
        }

        value = new ShortString(bytes);
        _position += 1 + length;
        return true;
    }

    public bool TryReadLongString(string field, out LongString value)
    {
        value = default;
        if (!TryReadByteRun(field, "long string", out var bytes))
        {
            return false;
        }

        value = new LongString(bytes);
        return true;
    }

    /// <summary>A 32-bit length and that many bytes (long strings, byte arrays), length checked first.</summary>
    public bool TryReadByteRun(string field, string what, out ReadOnlyMemory<byte> bytes)
    {
        bytes = default;
        if (Remaining < 4)
        {
            return Truncated(field, 4);
        }

        uint length = BinaryPrimitives.ReadUInt32BigEndian(_span[_position..]);
        if ((ulong)Remaining - 4 < length)
        {
            return _failure.Fail(ReplyCode.FrameError, field, $"is a {what} of {length} bytes at offset {_position}, but only {Remaining - 4} bytes follow");
        }

        bytes = _memory.Slice(_position + 4, (int)length);
        _position += 4 + (int)length;
        return true;
    }

    public bool TryReadTable(string field, out FieldTable table)
    {
        if (!FieldCodec.TryReadTable(_span[_position..], field, out table, out int consumed, ref _failure))
        {
            return false;
        }

        _position += consumed;
        return true;
    }

    /// <summary>Fails if bytes are left over: a method's arguments must be exactly its fields.</summary>
    public bool TryReadEnd()
    {
        if (IsAtEnd)
        {
            return true;
        }

        return _failure.Fail(ReplyCode.FrameError, "(end)", $"{Remaining} unexpected bytes after the last field");
    }

    public bool Fail(ReplyCode code, string field, string detail) => _failure.Fail(code, field, detail);

    public readonly AmqpError ToError(string context, ushort classId = 0, ushort methodId = 0) =>
        _failure.ToError(context, classId, methodId);

    private bool Truncated(string field, int needed) =>
        _failure.Fail(ReplyCode.FrameError, field, $"needs {needed} bytes at offset {_position}, but only {Remaining} remain");
}
