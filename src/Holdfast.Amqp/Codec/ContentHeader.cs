namespace Holdfast.Amqp.Codec;

/// <summary>
/// The payload of a content header frame: class id, weight (always 0), body size, then the class's
/// property flags and properties. Only the basic class carries content in 0-9-1, so the properties
/// are always <see cref="BasicProperties"/>.
/// </summary>
/// <remarks>
/// <see cref="BodySize"/> is the peer's claim, up to 2^64 - 1: whoever buffers the body checks it
/// against its own limit before renting anything.
/// </remarks>
public readonly record struct ContentHeader(ulong BodySize, BasicProperties Properties)
{
    private const int FixedLength = 2 + 2 + 8;

    public int EncodedLength => FixedLength + Properties.GetByteCount();

    public int WriteTo(Span<byte> destination)
    {
        var writer = new ArgumentWriter(destination);
        writer.WriteUInt16((ushort)AmqpClassId.Basic);
        writer.WriteUInt16(0);
        writer.WriteUInt64(BodySize);
        Properties.Write(ref writer);
        return writer.Position;
    }

    /// <summary>Decodes a content header payload. Strings in the properties borrow <paramref name="payload"/>; the headers table is a copy.</summary>
    public static bool TryDecode(ReadOnlyMemory<byte> payload, out ContentHeader header, out AmqpError error)
    {
        header = default;
        var reader = new ArgumentReader(payload);

        // The weight field is unused and "must be zero"; like RabbitMQ we do not hold a peer to it.
        if (!reader.TryReadUInt16("class-id", out ushort classId)
            || !reader.TryReadUInt16("weight", out _)
            || !reader.TryReadUInt64("body-size", out ulong bodySize))
        {
            error = reader.ToError("cannot decode content header");
            return false;
        }

        if (classId != (ushort)AmqpClassId.Basic)
        {
            error = new AmqpError(ReplyCode.FrameError, $"content header for class {classId}: only basic ({(ushort)AmqpClassId.Basic}) carries content", classId);
            return false;
        }

        if (!BasicProperties.TryRead(ref reader, out var properties) || !reader.TryReadEnd())
        {
            error = reader.ToError("cannot decode content header", classId);
            return false;
        }

        header = new ContentHeader(bodySize, properties);
        error = default;
        return true;
    }
}
