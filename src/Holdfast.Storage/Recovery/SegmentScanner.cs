using System.Buffers;
using Holdfast.Storage.Log;

namespace Holdfast.Storage.Recovery;

/// <summary>
/// Reads a segment's records in order with large sequential reads, verifying each CRC. A record that
/// fails is skipped by searching forward, on 8-byte boundaries, for the next record that verifies:
/// if one is found the bad bytes are reported as corruption and the scan goes on; if none is, the
/// bad bytes are the segment's tail (a write torn by a crash) and the scan ends before them.
/// </summary>
internal static class SegmentScanner
{
    private const int BlockSize = 4 << 20;

    public static SegmentScan Scan(Segment segment, long fromPosition, int maxPayload, RecordHandler handler)
    {
        var fileEnd = segment.BasePosition + segment.File.Length;
        var buffer = ArrayPool<byte>.Shared.Rent(BlockSize);
        try
        {
            var reader = new BlockReader(segment, buffer);
            var corrupt = new List<CorruptionReport>();
            var position = fromPosition;
            long records = 0;
            while (fileEnd - position >= RecordFormat.HeaderSize)
            {
                if (TryRecordAt(ref reader, position, fileEnd, maxPayload, out var record, out var bytes))
                {
                    handler(position, record, bytes.Slice(RecordFormat.HeaderSize, record.PayloadLength));
                    records++;
                    position += record.SizeOnDisk;
                    continue;
                }

                var next = FindNextRecord(ref reader, position + RecordFormat.Alignment, fileEnd, maxPayload);
                if (next < 0)
                {
                    break;
                }

                corrupt.Add(new CorruptionReport(position, next - position, "record failed its CRC or length check; skipped"));
                position = next;
            }

            return new SegmentScan(Math.Min(position, fileEnd), fileEnd, records, corrupt);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private static long FindNextRecord(ref BlockReader reader, long from, long fileEnd, int maxPayload)
    {
        for (var candidate = from; fileEnd - candidate >= RecordFormat.HeaderSize; candidate += RecordFormat.Alignment)
        {
            if (TryRecordAt(ref reader, candidate, fileEnd, maxPayload, out _, out _))
            {
                return candidate;
            }
        }

        return -1;
    }

    private static bool TryRecordAt(ref BlockReader reader, long position, long fileEnd, int maxPayload, out RecordView record, out ReadOnlySpan<byte> bytes)
    {
        record = default;
        bytes = default;
        var header = reader.Get(position, RecordFormat.HeaderSize);
        var length = RecordFormat.PeekPayloadLength(header, maxPayload);

        // The padding too: a record whose write was torn in its padding was never synced whole, and
        // accepting it would leave the log's end (where appends continue) off the 8-byte grid.
        if (length < 0 || position + RecordFormat.SizeOnDisk(length) > fileEnd)
        {
            return false;
        }

        bytes = reader.Get(position, RecordFormat.HeaderSize + length);
        return RecordFormat.TryDecode(bytes, maxPayload, out record);
    }

    /// <summary>A window over the segment file that refills with one large read when a request falls outside it.</summary>
    private ref struct BlockReader(Segment segment, byte[] block)
    {
        private byte[] _block = block;
        private long _start = -1;
        private int _length;
        private byte[]? _large;

        public ReadOnlySpan<byte> Get(long position, int count)
        {
            if (position >= _start && position + count <= _start + _length)
            {
                return _block.AsSpan((int)(position - _start), count);
            }

            if (count > _block.Length)
            {
                // A record bigger than the block: read it alone.
                if (_large is null || _large.Length < count)
                {
                    _large = new byte[count];
                }

                var n = segment.File.Read(position - segment.BasePosition, _large.AsSpan(0, count));
                return _large.AsSpan(0, n);
            }

            _start = position;
            _length = segment.File.Read(position - segment.BasePosition, _block);
            return _block.AsSpan(0, Math.Min(count, _length));
        }
    }
}
