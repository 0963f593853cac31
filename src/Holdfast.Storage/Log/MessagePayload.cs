using System.Buffers.Binary;

namespace Holdfast.Storage.Log;

/// <summary>
/// The payload of a <see cref="RecordType.Message"/> record: u16 n, n × (u32 queue id, i64 seq), then,
/// when the record has <see cref="RecordFlags.AcksSource"/>, the message it acks (u32 queue id, i64
/// seq), then the body.
/// </summary>
internal static class MessagePayload
{
    public const int TargetSize = 12;
    public const int SourceSize = 12;

    public static int Size(int targets, int bodyLength, bool acksSource = false) => BodyOffset(targets, acksSource) + bodyLength;

    public static int BodyOffset(int targets, bool acksSource) => 2 + (targets * TargetSize) + (acksSource ? SourceSize : 0);

    public static void WriteTarget(Span<byte> payload, int index, uint queueId, long seq)
    {
        var at = payload[(2 + (index * TargetSize))..];
        BinaryPrimitives.WriteUInt32LittleEndian(at, queueId);
        BinaryPrimitives.WriteInt64LittleEndian(at[4..], seq);
    }

    /// <summary>Writes the acked source after <paramref name="targets"/> targets.</summary>
    public static void WriteSource(Span<byte> payload, int targets, uint queueId, long seq)
    {
        var at = payload[(2 + (targets * TargetSize))..];
        BinaryPrimitives.WriteUInt32LittleEndian(at, queueId);
        BinaryPrimitives.WriteInt64LittleEndian(at[4..], seq);
    }

    public static List<(uint QueueId, long Seq)> ReadTargets(ReadOnlySpan<byte> payload, RecordFlags flags, out int bodyOffset)
    {
        var count = TargetCount(payload);
        var targets = new List<(uint, long)>(count);
        for (var i = 0; i < count; i++)
        {
            var at = payload[(2 + (i * TargetSize))..];
            targets.Add((BinaryPrimitives.ReadUInt32LittleEndian(at), BinaryPrimitives.ReadInt64LittleEndian(at[4..])));
        }

        bodyOffset = BodyOffset(count, AcksSource(flags));
        return targets;
    }

    /// <summary>Checks that the record is addressed to (<paramref name="queueId"/>, <paramref name="seq"/>) and finds its body.</summary>
    public static bool TryFindBody(ReadOnlySpan<byte> payload, RecordFlags flags, uint queueId, long seq, out int bodyOffset)
    {
        bodyOffset = 0;
        if (payload.Length < 2)
        {
            return false;
        }

        var count = TargetCount(payload);
        var offset = BodyOffset(count, AcksSource(flags));
        if (payload.Length < offset)
        {
            return false;
        }

        for (var i = 0; i < count; i++)
        {
            var at = payload[(2 + (i * TargetSize))..];
            if (BinaryPrimitives.ReadUInt32LittleEndian(at) == queueId && BinaryPrimitives.ReadInt64LittleEndian(at[4..]) == seq)
            {
                bodyOffset = offset;
                return true;
            }
        }

        return false;
    }

    public static bool AcksSource(RecordFlags flags) => (flags & RecordFlags.AcksSource) != 0;

    private static int TargetCount(ReadOnlySpan<byte> payload) => BinaryPrimitives.ReadUInt16LittleEndian(payload);
}
