using System.Buffers;

namespace Holdfast.Storage.Log;

/// <summary>Records appended but not yet written: a pooled buffer holding consecutive records of one segment.</summary>
internal sealed class PendingChunk
{
    public const int DefaultSize = 1 << 20;

    public PendingChunk(long segmentBase, long startPosition, int capacity)
    {
        SegmentBase = segmentBase;
        StartPosition = startPosition;
        Buffer = ArrayPool<byte>.Shared.Rent(Math.Max(capacity, DefaultSize));
    }

    public long SegmentBase { get; }

    public long StartPosition { get; }

    public byte[] Buffer { get; private set; }

    public int Length { get; set; }

    public long EndPosition => StartPosition + Length;

    public int Free => Buffer.Length - Length;

    public ReadOnlyMemory<byte> Written => Buffer.AsMemory(0, Length);

    public void Release()
    {
        if (Buffer.Length > 0)
        {
            ArrayPool<byte>.Shared.Return(Buffer);
            Buffer = [];
        }
    }
}
