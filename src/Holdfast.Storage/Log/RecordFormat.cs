using System.Buffers.Binary;
using System.IO.Hashing;

namespace Holdfast.Storage.Log;

/// <summary>
/// The commit-log record, as written to a segment. All integers little-endian.
/// <code>
/// offset  size  field
///      0     4  CRC-32C (Castagnoli) of bytes [4, 12 + length): the header after this field, then the payload
///      4     4  payload length in bytes
///      8     1  record type (<see cref="RecordType"/>)
///      9     1  flags (<see cref="RecordFlags"/>)
///     10     2  format version, currently 1
///     12     n  payload
///   12+n     p  zero padding to the next multiple of 8 (not covered by the CRC)
/// </code>
/// The CRC comes first so that one pass over contiguous bytes covers the length, type, flags, version
/// and payload. Alignment to 8 lets recovery look for the next intact record after a corrupt one
/// on aligned offsets only. A record whose CRC fails, or whose length runs past the end of the
/// segment or beyond the configured maximum, is never returned to a caller.
/// </summary>
internal static class RecordFormat
{
    public const int HeaderSize = 12;
    public const int Alignment = 8;
    public const ushort Version = 1;

    public static int SizeOnDisk(int payloadLength) => (HeaderSize + payloadLength + Alignment - 1) & ~(Alignment - 1);

    /// <summary>Fills the header of a record whose payload is already in place at <c>record[HeaderSize..]</c>, and zeroes the padding.</summary>
    public static void Seal(Span<byte> record, RecordType type, RecordFlags flags, int payloadLength)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(record[4..], (uint)payloadLength);
        record[8] = (byte)type;
        record[9] = (byte)flags;
        BinaryPrimitives.WriteUInt16LittleEndian(record[10..], Version);
        var end = HeaderSize + payloadLength;
        record[end..SizeOnDisk(payloadLength)].Clear();
        BinaryPrimitives.WriteUInt32LittleEndian(record, Crc32.HashToUInt32(Crc32ParameterSet.Crc32C, record[4..end]));
    }

    /// <summary>Encodes a whole record into <paramref name="destination"/>; returns the bytes used (with padding).</summary>
    public static int Write(Span<byte> destination, RecordType type, RecordFlags flags, ReadOnlySpan<byte> payload)
    {
        payload.CopyTo(destination[HeaderSize..]);
        Seal(destination, type, flags, payload.Length);
        return SizeOnDisk(payload.Length);
    }

    /// <summary>Reads the declared payload length, or -1 when the header itself is implausible.</summary>
    public static int PeekPayloadLength(ReadOnlySpan<byte> header, int maxPayload)
    {
        var length = BinaryPrimitives.ReadUInt32LittleEndian(header[4..]);
        if (length > (uint)maxPayload
            || BinaryPrimitives.ReadUInt16LittleEndian(header[10..]) != Version
            || !Enum.IsDefined((RecordType)header[8]))
        {
            return -1;
        }

        return (int)length;
    }

    /// <summary>Checks a record held whole in <paramref name="record"/> (header and payload, padding optional).</summary>
    public static bool TryDecode(ReadOnlySpan<byte> record, int maxPayload, out RecordView view)
    {
        view = default;
        if (record.Length < HeaderSize)
        {
            return false;
        }

        var length = PeekPayloadLength(record, maxPayload);
        if (length < 0 || record.Length < HeaderSize + length)
        {
            return false;
        }

        var stored = BinaryPrimitives.ReadUInt32LittleEndian(record);
        if (Crc32.HashToUInt32(Crc32ParameterSet.Crc32C, record[4..(HeaderSize + length)]) != stored)
        {
            return false;
        }

        view = new RecordView((RecordType)record[8], (RecordFlags)record[9], length);
        return true;
    }
}
