using System.Buffers;
using System.Collections.Concurrent;
using Microsoft.AspNetCore.Connections;

namespace Holdfast.Hosting;

/// <summary>
/// The buffers Kestrel's socket transport receives into and sends from, in blocks of <see cref="BlockSize"/>.
/// Kestrel's own pool hands out 4 KiB blocks, and its transport receives into what is left of the current block,
/// so a 64 KiB message took ~32 <c>recv</c> calls and as many flushes of the connection's pipe (docs/benchmarks.md).
/// With 64 KiB blocks one call takes what the socket holds. An idle connection holds no block (the transport
/// waits for data before it asks for one), so many idle connections cost no more than before.
/// </summary>
internal sealed class ConnectionBufferPool : MemoryPool<byte>
{
    public const int BlockSize = 64 * 1024;

    // Blocks kept for reuse once returned, at most this many (16 MiB); a burst beyond it is left to the collector.
    private const int MaxKept = 256;

    private readonly ConcurrentQueue<Block> _kept = new();
    private int _keptCount;
    private long _rented;

    public override int MaxBufferSize => BlockSize;

    /// <summary>Blocks handed out so far, reused ones included.</summary>
    public long Rented => Interlocked.Read(ref _rented);

    public override IMemoryOwner<byte> Rent(int minBufferSize = -1)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(minBufferSize, BlockSize);
        Interlocked.Increment(ref _rented);
        if (_kept.TryDequeue(out var block))
        {
            Interlocked.Decrement(ref _keptCount);
            block.Rented();
            return block;
        }

        return new Block(this);
    }

    protected override void Dispose(bool disposing)
    {
    }

    private void Return(Block block)
    {
        if (Interlocked.Increment(ref _keptCount) <= MaxKept)
        {
            _kept.Enqueue(block);
        }
        else
        {
            Interlocked.Decrement(ref _keptCount);
        }
    }

    /// <summary>One block; returned to its pool once on Dispose, however many times that is called.</summary>
    private sealed class Block(ConnectionBufferPool pool) : IMemoryOwner<byte>
    {
        // Pinned: the socket layer pins what it receives into, and pinned arrays live apart from the collector's compaction.
        private readonly byte[] _array = GC.AllocateUninitializedArray<byte>(BlockSize, pinned: true);
        private int _returned;

        public Memory<byte> Memory => _array;

        public void Rented() => Volatile.Write(ref _returned, 0);

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _returned, 1) == 0)
            {
                pool.Return(this);
            }
        }
    }

    /// <summary>What Kestrel asks for its pools (one per transport and listener), registered in the host's services.</summary>
    public sealed class Factory : IMemoryPoolFactory<byte>
    {
        private readonly ConcurrentQueue<ConnectionBufferPool> _created = new();

        /// <summary>Blocks handed out by every pool this factory made.</summary>
        public long Rented => _created.Sum(pool => pool.Rented);

        public MemoryPool<byte> Create(MemoryPoolOptions? options = null)
        {
            var pool = new ConnectionBufferPool();
            _created.Enqueue(pool);
            return pool;
        }
    }
}
