using System.Buffers.Binary;
using System.IO.Hashing;

namespace Holdfast.Storage.Queues;

/// <summary>
/// A queue index entry on disk, 16 bytes, little-endian:
/// <code>
/// offset  size  field
///      0     8  log position of the message record
///      8     4  record size on disk (header, payload and padding)
///     12     4  CRC-32C of (sequence number as 8 bytes, bytes 0..12 of this entry)
/// </code>
/// Folding the sequence number into the CRC catches an entry written to the wrong slot; a zeroed
/// or torn entry fails its CRC and is rebuilt from the log.
/// </summary>
internal static class IndexEntryFormat
{
    public const int Size = 16;

    public static void Write(Span<byte> destination, long seq, long position, int length)
    {
        BinaryPrimitives.WriteInt64LittleEndian(destination, position);
        BinaryPrimitives.WriteInt32LittleEndian(destination[8..], length);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[12..], Checksum(seq, destination));
    }

    public static bool TryRead(ReadOnlySpan<byte> source, long seq, out long position, out int length)
    {
        position = BinaryPrimitives.ReadInt64LittleEndian(source);
        length = BinaryPrimitives.ReadInt32LittleEndian(source[8..]);
        return BinaryPrimitives.ReadUInt32LittleEndian(source[12..]) == Checksum(seq, source) && position >= 0 && length > 0;
    }

    private static uint Checksum(long seq, ReadOnlySpan<byte> entry)
    {
        Span<byte> buffer = stackalloc byte[20];
        BinaryPrimitives.WriteInt64LittleEndian(buffer, seq);
        entry[..12].CopyTo(buffer[8..]);
        return Crc32.HashToUInt32(Crc32ParameterSet.Crc32C, buffer);
    }
}
