using System.Buffers;

namespace Holdfast.Storage.Log;

/// <summary>Records appended but not yet written: a pooled buffer holding consecutive records of one segment.</summary>
internal sealed class PendingChunk
{
    public const int DefaultSize = 1 << 20;

    public long SegmentBase { get; private set; }

    public long StartPosition { get; private set; }

    public byte[] Buffer { get; private set; } = [];

    public int Length { get; set; }

    public long EndPosition => StartPosition + Length;

    public int Free => Buffer.Length - Length;

    public ReadOnlyMemory<byte> Written => Buffer.AsMemory(0, Length);

    /// <summary>Starts the chunk afresh (the object is reused by its batch; the buffer always comes from the pool).</summary>
    public void Reset(long segmentBase, long startPosition, int capacity)
    {
        SegmentBase = segmentBase;
        StartPosition = startPosition;
        Length = 0;
        Buffer = ArrayPool<byte>.Shared.Rent(Math.Max(capacity, DefaultSize));
    }

    public void Release()
    {
        if (Buffer.Length > 0)
        {
            ArrayPool<byte>.Shared.Return(Buffer);
            Buffer = [];
        }
    }
}
