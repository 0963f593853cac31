using System.Buffers.Binary;
using System.IO.Hashing;

namespace Holdfast.Storage.Log;

/// <summary>
/// The commit-log record, as written to a segment. All integers little-endian.
/// <code>
/// offset  size  field
///      0     4  CRC-32C (Castagnoli) of bytes [4, 20 + length): the header after this field, then the payload
///      4     4  payload length in bytes
///      8     1  record type (<see cref="RecordType"/>)
///      9     1  flags (<see cref="RecordFlags"/>)
///     10     2  format version, currently 2
///     12     8  the record's own log position
///     20     n  payload
///   20+n     p  zero padding to the next multiple of 8 (not covered by the CRC)
/// </code>
/// The CRC comes first so that one pass over contiguous bytes covers the rest of the header and the
/// payload. Alignment to 8 lets recovery look for the next intact record after a corrupt one on
/// aligned offsets only. A record whose CRC fails, or whose length runs past the end of the segment
/// or beyond the configured maximum, is never returned to a caller.
/// <para>
/// The position is what makes segment files reusable: a recycled file still holds the records of its
/// previous life past the new data, intact and with valid CRCs, but naming positions the log has left
/// behind. Such a record is <see cref="RecordCheck.Stale"/>: where the live data ends, never data.
/// Version 1 records (12-byte header, no position) are still read; they only ever occur in segments
/// begun by version 1, and those are never recycled.
/// </para>
/// </summary>
internal static class RecordFormat
{
    /// <summary>The header this version writes.</summary>
    public const int HeaderSize = 20;

    /// <summary>What must be read to learn a record's version, and so its header size and length.</summary>
    public const int PeekSize = 12;

    public const int Alignment = 8;
    public const ushort Version = 2;

    private const ushort PositionlessVersion = 1;
    private const int PositionlessHeaderSize = 12;

    public static int SizeOnDisk(int payloadLength) => SizeOnDisk(HeaderSize, payloadLength);

    public static int SizeOnDisk(int headerSize, int payloadLength) => (headerSize + payloadLength + Alignment - 1) & ~(Alignment - 1);

    /// <summary>Fills the header of a record at <paramref name="position"/> whose payload is already in place at <c>record[HeaderSize..]</c>, and zeroes the padding.</summary>
    public static void Seal(Span<byte> record, RecordType type, RecordFlags flags, int payloadLength, long position)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(record[4..], (uint)payloadLength);
        record[8] = (byte)type;
        record[9] = (byte)flags;
        BinaryPrimitives.WriteUInt16LittleEndian(record[10..], Version);
        BinaryPrimitives.WriteInt64LittleEndian(record[12..], position);
        var end = HeaderSize + payloadLength;
        record[end..SizeOnDisk(payloadLength)].Clear();
        BinaryPrimitives.WriteUInt32LittleEndian(record, Crc32.HashToUInt32(Crc32ParameterSet.Crc32C, record[4..end]));
    }

    /// <summary>Encodes a whole record into <paramref name="destination"/>; returns the bytes used (with padding).</summary>
    public static int Write(Span<byte> destination, RecordType type, RecordFlags flags, ReadOnlySpan<byte> payload, long position)
    {
        payload.CopyTo(destination[HeaderSize..]);
        Seal(destination, type, flags, payload.Length, position);
        return SizeOnDisk(payload.Length);
    }

    /// <summary>
    /// Reads the declared payload length and header size from the first <see cref="PeekSize"/> bytes, or
    /// returns -1 when the header itself is implausible.
    /// </summary>
    public static int PeekPayloadLength(ReadOnlySpan<byte> header, int maxPayload, out int headerSize)
    {
        headerSize = BinaryPrimitives.ReadUInt16LittleEndian(header[10..]) switch
        {
            Version => HeaderSize,
            PositionlessVersion => PositionlessHeaderSize,
            _ => 0,
        };
        var length = BinaryPrimitives.ReadUInt32LittleEndian(header[4..]);
        if (headerSize == 0 || length > (uint)maxPayload || !Enum.IsDefined((RecordType)header[8]))
        {
            return -1;
        }

        return (int)length;
    }

    /// <summary>Checks a record held whole in <paramref name="record"/> (header and payload, padding optional) that was read at <paramref name="position"/>.</summary>
    public static RecordCheck Check(ReadOnlySpan<byte> record, int maxPayload, long position, out RecordView view)
    {
        view = default;
        if (record.Length < PeekSize)
        {
            return RecordCheck.Invalid;
        }

        var length = PeekPayloadLength(record, maxPayload, out var headerSize);
        if (length < 0 || record.Length < headerSize + length)
        {
            return RecordCheck.Invalid;
        }

        var stored = BinaryPrimitives.ReadUInt32LittleEndian(record);
        if (Crc32.HashToUInt32(Crc32ParameterSet.Crc32C, record[4..(headerSize + length)]) != stored)
        {
            return RecordCheck.Invalid;
        }

        if (headerSize == HeaderSize && BinaryPrimitives.ReadInt64LittleEndian(record[12..]) != position)
        {
            return RecordCheck.Stale;
        }

        view = new RecordView((RecordType)record[8], (RecordFlags)record[9], length, headerSize);
        return RecordCheck.Valid;
    }

    public static bool TryDecode(ReadOnlySpan<byte> record, int maxPayload, long position, out RecordView view) =>
        Check(record, maxPayload, position, out view) == RecordCheck.Valid;
}
