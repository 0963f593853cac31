using System.Text;
using Holdfast.Testing;

namespace Holdfast.Storage.Tests.Operations;

/// <summary>ReadMany brings back several messages of a queue with few reads: the same bytes TryRead gives, skipping what is gone.</summary>
public sealed class ReadManyTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private StoreOptions Options() => new() { Directory = Path.Combine(_dir.Path, "store"), SegmentSizeBytes = 1 << 20, AutoCompact = false };

    [Fact]
    public async Task Reads_every_live_message_asked_for_with_its_own_body_and_skips_acked_and_unknown_ones()
    {
        await using var store = await MessageStore.OpenAsync(Options());
        var queue = await store.DeclareQueueAsync("q");
        var other = await store.DeclareQueueAsync("other");
        var seqs = new long[1];
        for (var i = 0; i < 300; i++)
        {
            await store.AppendAsync([queue], Encoding.UTF8.GetBytes($"body-{i}-" + new string('x', i)), seqs);
            if (i % 7 == 0)
            {
                // Records of another queue in between: the reads must cover or step over them.
                await store.AppendAsync([other], Encoding.UTF8.GetBytes($"noise-{i}"));
            }
        }

        await store.AckAsync(queue, [3L, 150L]);
        var asked = Enumerable.Range(0, 300).Select(i => (long)i).Append(999L).Reverse().ToArray();

        var got = new List<(long Seq, string Body)>();
        store.ReadMany(queue, asked, got, static (list, seq, payload) => list.Add((seq, Encoding.UTF8.GetString(payload))));

        var expected = Enumerable.Range(0, 300).Where(i => i is not (3 or 150)).Select(i => ((long)i, $"body-{i}-" + new string('x', i))).ToList();
        Assert.Equal(expected, got);
    }

    [Fact]
    public async Task A_message_compaction_moved_is_still_found()
    {
        var options = Options() with { SegmentSizeBytes = 64 * 1024 };
        await using var store = await MessageStore.OpenAsync(options);
        var queue = await store.DeclareQueueAsync("q");
        var seqs = new long[1];
        await store.AppendAsync([queue], "kept-1"u8.ToArray(), seqs);
        await store.AppendAsync([queue], "kept-2"u8.ToArray(), seqs);
        var filler = new byte[1000];
        for (var i = 0; i < 200; i++)
        {
            await store.AppendAsync([queue], filler, seqs);
            await store.AckAsync(queue, seqs[0]);
        }

        Assert.True(await store.CompactAsync() >= 2);
        var got = new List<string>();
        store.ReadMany(queue, [0L, 1L], got, static (list, _, payload) => list.Add(Encoding.UTF8.GetString(payload)));
        Assert.Equal(["kept-1", "kept-2"], got);
    }
}
