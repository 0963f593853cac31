using Holdfast.Storage.Devices;
using Holdfast.Testing;

namespace Holdfast.Storage.Tests.Devices;

/// <summary>
/// <see cref="DirectWriteFile"/> on the real file system: whatever the offsets and sizes, what is read back is exactly
/// what was written, with zeros after the end, and the large writes really went past the page cache.
/// </summary>
public sealed class DirectWriteFileTests : IDisposable
{
    private const int Block = DirectWriteFile.BlockBytes;
    private readonly TempDirectory _dir = new("holdfast-direct");

    public void Dispose() => _dir.Dispose();

    [DirectIoFact]
    public void Writes_at_any_offset_read_back_exactly_with_zeros_after_the_end()
    {
        using var file = Open("segment", directWriteMinimumBytes: 0);
        var expected = new MemoryStream();
        var random = new Random(7);

        // Lengths that start and end mid-block, end on a block, span several blocks, and one larger than the staging buffer.
        foreach (var length in new[] { 100, 3996, 1, 4096, 10_000, 5 << 20, 333, 70_000 })
        {
            var data = new byte[length];
            random.NextBytes(data);
            file.Write(expected.Length, [data.AsMemory(0, length / 2), data.AsMemory(length / 2)]);
            expected.Write(data);

            var end = expected.Length;
            var back = new byte[end];
            Assert.Equal(end, file.Read(0, back));
            Assert.Equal(expected.ToArray(), back);

            // The block holding the end is written out whole, with zeros after the data.
            var blockEnd = (end + Block - 1) / Block * Block;
            Assert.Equal(blockEnd, file.Length);
            var rest = new byte[blockEnd - end];
            Assert.Equal(rest.Length, file.Read(end, rest));
            Assert.All(rest, b => Assert.Equal(0, b));
        }

        Assert.True(file.DirectWriteCount >= 8, $"only {file.DirectWriteCount} writes went direct");

        // Each write started where the last one ended, in the block this file had kept a copy of.
        Assert.Equal(0, file.HeadReadCount);
    }

    [DirectIoFact]
    public void Zeros_written_ahead_from_the_next_block_leave_the_kept_copy_of_the_last_block_in_use()
    {
        using var file = Open("segment", directWriteMinimumBytes: 0);
        var data = new byte[5000];
        new Random(6).NextBytes(data);
        file.Write(0, data.AsSpan(0, 3000));

        // As CommitLog.PrepareBlocksAhead does: zeros from the next block on, then the data goes on where it ended.
        file.Write(Block, new byte[256 * 1024]);
        file.Write(3000, data.AsSpan(3000));

        Assert.Equal(0, file.HeadReadCount);
        var back = new byte[data.Length];
        Assert.Equal(data.Length, file.Read(0, back));
        Assert.Equal(data, back);
    }

    [DirectIoFact]
    public void A_write_into_a_block_this_file_did_not_write_keeps_the_bytes_before_it()
    {
        var first = new byte[6000];
        new Random(1).NextBytes(first);
        using (var earlier = Open("segment", directWriteMinimumBytes: int.MaxValue))
        {
            earlier.Write(0, first);
            earlier.Flush();
            Assert.Equal(0, earlier.DirectWriteCount);
        }

        // A new file object knows nothing of the tail: it must read the first 1,904 bytes of block 1 back.
        var second = new byte[Block * 40];
        new Random(2).NextBytes(second);
        using var file = Open("segment", directWriteMinimumBytes: 0);
        file.Write(first.Length, second);
        Assert.Equal(1, file.DirectWriteCount);
        Assert.Equal(1, file.HeadReadCount);

        var back = new byte[first.Length + second.Length];
        Assert.Equal(back.Length, file.Read(0, back));
        Assert.Equal(first, back[..first.Length]);
        Assert.Equal(second, back[first.Length..]);
    }

    [DirectIoFact]
    public void Small_writes_stay_buffered_and_large_ones_go_direct_and_each_sees_the_other()
    {
        using var file = Open("segment", directWriteMinimumBytes: 64 * 1024);
        var expected = new MemoryStream();
        var random = new Random(3);
        var large = 0;
        for (var i = 0; i < 40; i++)
        {
            var data = new byte[i % 4 == 0 ? 100_000 + i : 50 + (i * 37)];
            random.NextBytes(data);
            file.Write(expected.Length, data);
            expected.Write(data);
            large += data.Length >= 64 * 1024 ? 1 : 0;
            if (i % 5 == 0)
            {
                file.Flush();
            }
        }

        Assert.Equal(large, file.DirectWriteCount);
        var back = new byte[expected.Length];
        Assert.Equal(back.Length, file.Read(0, back));
        Assert.Equal(expected.ToArray(), back);
    }

    [DirectIoFact]
    public void A_cut_back_forgets_the_tail_so_the_next_write_keeps_only_what_is_left()
    {
        using var file = Open("segment", directWriteMinimumBytes: 0);
        var data = new byte[3000];
        new Random(4).NextBytes(data);
        file.Write(0, data);
        file.SetLength(1000);

        var more = new byte[500];
        new Random(5).NextBytes(more);
        file.Write(1000, more);

        var back = new byte[1500];
        Assert.Equal(1500, file.Read(0, back));
        Assert.Equal(data[..1000], back[..1000]);
        Assert.Equal(more, back[1000..]);
        var rest = new byte[Block - 1500];
        file.Read(1500, rest);
        Assert.All(rest, b => Assert.Equal(0, b));
    }

    [DirectIoFact]
    public async Task A_store_with_direct_writes_keeps_its_messages_across_a_reopen()
    {
        // Every write direct, segments small enough to roll a few times.
        var options = new StoreOptions { Directory = Path.Combine(_dir.Path, "store"), DirectWrites = true, DirectWriteMinimumBytes = 0, SegmentSizeBytes = 1 << 20 };
        var payloads = Enumerable.Range(0, 600).Select(i => Enumerable.Repeat((byte)i, 1000 + (i * 97 % 9000)).ToArray()).ToList();
        await using (var store = await MessageStore.OpenAsync(options))
        {
            var queue = await store.DeclareQueueAsync("q");
            var appends = new List<Task>();
            foreach (var payload in payloads)
            {
                appends.Add(store.AppendAsync([queue], payload).AsTask());
            }

            await Task.WhenAll(appends);
        }

        await using (var store = await MessageStore.OpenAsync(options))
        {
            var queue = store.Queues.Single();
            var messages = store.ReadRange(queue, 0, 10_000);
            Assert.Equal(payloads, messages.Select(m => m.Payload.ToArray()));
            foreach (var message in messages)
            {
                message.Dispose();
            }
        }
    }

    private DirectWriteFile Open(string name, int directWriteMinimumBytes)
    {
        var path = Path.Combine(_dir.Path, name);
        var handle = File.OpenHandle(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.Read);
        var file = DirectWriteFile.TryOpen(path, handle, directWriteMinimumBytes);
        Assert.NotNull(file);
        return file;
    }
}
