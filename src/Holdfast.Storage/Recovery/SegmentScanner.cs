using System.Buffers;
using Holdfast.Storage.Log;

namespace Holdfast.Storage.Recovery;

/// <summary>
/// Reads a segment's records in order with large sequential reads, verifying each CRC, up to the
/// segment's <see cref="Segment.EndPosition"/>. A record that fails is skipped by searching forward, on
/// 8-byte boundaries, for the next record that verifies: if one is found the bad bytes are reported as
/// corruption and the scan goes on; if none is, the bad bytes are the segment's tail (a write torn by a
/// crash) and the scan ends before them. A stale record (the file's previous life as another segment,
/// see <see cref="RecordCheck.Stale"/>) ends the scan too: the live data stops before it.
/// Given a page-cache window (<see cref="StoreOptions.PageCacheLogBytes"/>), the scan drops from the cache what
/// lies more than that far behind it, as the log does behind its writes: a replay of a long log then reuses the
/// same pages instead of filling memory with pages never used before (docs/architecture.md).
/// </summary>
internal static class SegmentScanner
{
    private const int BlockSize = 4 << 20;

    public static SegmentScan Scan(Segment segment, long fromPosition, int maxPayload, RecordHandler handler, long? keepCachedBytes = null)
    {
        var end = segment.EndPosition;
        var buffer = ArrayPool<byte>.Shared.Rent(BlockSize);
        try
        {
            var reader = new BlockReader(segment, buffer, keepCachedBytes ?? -1, fromPosition - segment.BasePosition);
            var corrupt = new List<CorruptionReport>();
            var position = fromPosition;
            var staleFrom = -1L;
            long records = 0;
            while (end - position >= RecordFormat.PeekSize)
            {
                var check = CheckAt(ref reader, position, end, maxPayload, out var record, out var bytes);
                if (check == RecordCheck.Valid)
                {
                    handler(position, record, bytes.Slice(record.HeaderSize, record.PayloadLength));
                    records++;
                    position += record.SizeOnDisk;
                    continue;
                }

                if (check == RecordCheck.Stale)
                {
                    staleFrom = position;
                    break;
                }

                var (next, nextIsStale) = FindNextRecord(ref reader, position + RecordFormat.Alignment, end, maxPayload);
                if (nextIsStale)
                {
                    staleFrom = next;
                    break;
                }

                if (next < 0)
                {
                    break;
                }

                corrupt.Add(new CorruptionReport(position, next - position, "record failed its CRC or length check; skipped"));
                position = next;
            }

            return new SegmentScan(Math.Min(position, end), end, staleFrom, records, corrupt);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>The next position holding an intact record, and whether that record is stale; -1 when there is none.</summary>
    private static (long Position, bool Stale) FindNextRecord(ref BlockReader reader, long from, long end, int maxPayload)
    {
        for (var candidate = from; end - candidate >= RecordFormat.PeekSize; candidate += RecordFormat.Alignment)
        {
            var check = CheckAt(ref reader, candidate, end, maxPayload, out _, out _);
            if (check != RecordCheck.Invalid)
            {
                return (candidate, check == RecordCheck.Stale);
            }
        }

        return (-1, false);
    }

    private static RecordCheck CheckAt(ref BlockReader reader, long position, long end, int maxPayload, out RecordView record, out ReadOnlySpan<byte> bytes)
    {
        record = default;
        bytes = default;
        var header = reader.Get(position, RecordFormat.PeekSize);
        var length = RecordFormat.PeekPayloadLength(header, maxPayload, out var headerSize);

        // The padding too: a record whose write was torn in its padding was never synced whole, and
        // accepting it would leave the log's end (where appends continue) off the 8-byte grid.
        if (length < 0 || position + RecordFormat.SizeOnDisk(headerSize, length) > end)
        {
            return RecordCheck.Invalid;
        }

        bytes = reader.Get(position, headerSize + length);
        return RecordFormat.Check(bytes, maxPayload, position, out record);
    }

    /// <summary>
    /// A window over the segment file that refills with one large read when a request falls outside it, and drops
    /// the page cache more than <paramref name="keepCached"/> bytes behind each refill (none when negative).
    /// </summary>
    private ref struct BlockReader(Segment segment, byte[] block, long keepCached, long droppedEnd)
    {
        private readonly byte[] _block = block;
        private long _droppedEnd = droppedEnd;
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
            DropBehind(position - segment.BasePosition);
            return _block.AsSpan(0, Math.Min(count, _length));
        }

        private void DropBehind(long offset)
        {
            var to = offset - keepCached;
            if (keepCached >= 0 && to - _droppedEnd >= BlockSize)
            {
                segment.File.DropCached(_droppedEnd, to - _droppedEnd);
                _droppedEnd = to;
            }
        }
    }
}
