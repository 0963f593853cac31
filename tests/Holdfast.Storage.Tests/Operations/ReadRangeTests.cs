using System.Text;
using Holdfast.Testing;

namespace Holdfast.Storage.Tests.Operations;

public sealed class ReadRangeTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task ReadRange_returns_live_messages_from_a_sequence_number_without_delivering_them()
    {
        await using var store = await MessageStore.OpenAsync(new StoreOptions { Directory = Path.Combine(_dir.Path, "store"), AutoCompact = false });
        var queue = await store.DeclareQueueAsync("stream");
        for (var i = 0; i < 20; i++)
        {
            await store.AppendAsync([queue], Encoding.UTF8.GetBytes($"m{i}"));
        }

        await store.AckAsync(queue, [3L, 4, 5, 10]);

        Assert.Equal([(2L, "m2"), (6L, "m6"), (7L, "m7"), (8L, "m8"), (9L, "m9")], Read(store, queue, 2, 5));
        Assert.Equal(16, Read(store, queue, 0, 100).Count);
        Assert.Equal([(0L, "m0"), (1L, "m1")], Read(store, queue, -5, 2));
        Assert.Equal([(19L, "m19")], Read(store, queue, 19, 10));
        Assert.Empty(Read(store, queue, 20, 10));
        Assert.Empty(Read(store, queue, 0, 0));

        // Nothing was delivered: the consumer still starts at the oldest message.
        Assert.Equal(16, queue.ReadyCount);
        Assert.True(store.TryReadNext(queue, out var first));
        using (first)
        {
            Assert.Equal(0, first!.Seq);
        }

        // Delivered messages are still live, so still in range; acked ones at the head are not.
        Assert.Equal([(0L, "m0")], Read(store, queue, 0, 1));
        await store.AckAsync(queue, [0L, 1, 2]);
        Assert.Equal([(6L, "m6")], Read(store, queue, 0, 1));
    }

    private static List<(long Seq, string Text)> Read(MessageStore store, StoredQueue queue, long from, int max)
    {
        var result = new List<(long, string)>();
        foreach (var message in store.ReadRange(queue, from, max))
        {
            using (message)
            {
                result.Add((message.Seq, Encoding.UTF8.GetString(message.Payload.Span)));
            }
        }

        return result;
    }
}
