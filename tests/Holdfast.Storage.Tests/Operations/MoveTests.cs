using System.Text;
using Holdfast.Testing;

namespace Holdfast.Storage.Tests.Operations;

/// <summary>
/// A move (a dead letter leaving its source, a delayed message leaving its holding index) is one
/// record: the new copies and the source's ack. Whatever a crash leaves, the message is in exactly
/// one place: never in both (a duplicate nobody can mark), never in neither (a loss).
/// </summary>
public sealed class MoveTests : IDisposable
{
    // Record layout of a move to one target: header 20, u16 count, one target 12, the source 12, then the body.
    private const int BodyOffsetInMoveRecord = 20 + 2 + 12 + 12;

    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private StoreOptions Options(string name = "store") => new()
    {
        // With no zeros prepared ahead the file ends where the tear does, so the torn bytes counted are exact.
        PrepareAheadBytes = 0,
        Directory = Path.Combine(_dir.Path, name),
        SegmentSizeBytes = 1 << 20,
        AutoCompact = false,
    };

    private static byte[] Body(string text) => Encoding.UTF8.GetBytes(text);

    [Theory]
    [InlineData(ReopenMode.AfterClose)]
    [InlineData(ReopenMode.FromCrashImage)]
    public async Task A_move_adds_the_new_copies_and_acks_the_source_together(ReopenMode mode)
    {
        var store = await MessageStore.OpenAsync(Options());
        try
        {
            var source = await store.DeclareQueueAsync("source");
            var a = await store.DeclareQueueAsync("a");
            var b = await store.DeclareQueueAsync("b");
            var seqs = new long[1];
            await store.AppendAsync([source], Body("stays"), seqs);
            await store.AppendAsync([source], Body("leaves"), seqs);
            var leaving = seqs[0];

            var moved = new long[2];
            await store.AppendMovingAsync([a, b], Body("arrived"), moved, source, leaving);

            Assert.Equal([0, 0], moved);
            AssertContents(store, expectedSource: ["stays"], expectedA: ["arrived"], expectedB: ["arrived"]);

            store = await Reopen.Async(store, mode);
            AssertContents(store, expectedSource: ["stays"], expectedA: ["arrived"], expectedB: ["arrived"]);
        }
        finally
        {
            await store.DisposeAsync();
        }
    }

    [Theory]
    [InlineData(5)] // inside the header
    [InlineData(25)] // inside the target list
    [InlineData(40)] // inside the source
    [InlineData(BodyOffsetInMoveRecord + 3)] // inside the body
    public async Task A_move_torn_by_a_crash_leaves_the_message_in_its_source_only(int bytesKept)
    {
        var image = Path.Combine(_dir.Path, "image");
        await using (var store = await MessageStore.OpenAsync(Options()))
        {
            var source = await store.DeclareQueueAsync("source");
            var target = await store.DeclareQueueAsync("a");
            await store.DeclareQueueAsync("b");
            var seqs = new long[1];
            await store.AppendAsync([source], Body("stays"), seqs);
            await store.AppendAsync([source], Body("leaves"), seqs);
            await store.AppendMovingAsync([target], Body("moved-marker"), new long[1], source, seqs[0]);
            StoreDirectory.Copy(store.Options.Directory, image);
        }

        var (segment, markerAt) = StoreDirectory.Find(image, Body("moved-marker"));
        using (var file = File.Open(segment, FileMode.Open, FileAccess.Write))
        {
            file.SetLength(markerAt - BodyOffsetInMoveRecord + bytesKept);
        }

        await using (var store = await MessageStore.OpenAsync(Options("image")))
        {
            Assert.Equal(bytesKept, store.Recovery.BytesTruncated);
            AssertContents(store, expectedSource: ["stays", "leaves"], expectedA: [], expectedB: []);
        }
    }

    [Fact]
    public async Task A_moved_message_relocated_by_compaction_stays_moved()
    {
        var options = Options() with { SegmentSizeBytes = 64 * 1024, CheckpointEveryBytes = 64 * 1024 };
        var store = await MessageStore.OpenAsync(options);
        try
        {
            var source = await store.DeclareQueueAsync("source");
            var a = await store.DeclareQueueAsync("a");
            await store.DeclareQueueAsync("b");
            var seqs = new long[1];
            await store.AppendAsync([source], Body("leaves"), seqs);
            await store.AppendMovingAsync([a], Body("arrived"), new long[1], source, seqs[0]);

            // Fill several segments with messages that are acked at once, so the move's segment is mostly dead.
            var filler = new byte[1000];
            for (var i = 0; i < 200; i++)
            {
                await store.AppendAsync([source], filler, seqs);
                await store.AckAsync(source, seqs[0]);
            }

            Assert.True(await store.CompactAsync() >= 1);
            AssertContents(store, expectedSource: [], expectedA: ["arrived"], expectedB: []);

            store = await Reopen.Async(store, ReopenMode.FromCrashImage);
            AssertContents(store, expectedSource: [], expectedA: ["arrived"], expectedB: []);
        }
        finally
        {
            await store.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_move_whose_targets_are_all_gone_leaves_the_source_in_place()
    {
        await using var store = await MessageStore.OpenAsync(Options());
        var source = await store.DeclareQueueAsync("source");
        var target = await store.DeclareQueueAsync("a");
        await store.DeclareQueueAsync("b");
        var seqs = new long[1];
        await store.AppendAsync([source], Body("leaves"), seqs);
        await store.DeleteQueueAsync(target);

        var moved = new long[1];
        await store.AppendMovingAsync([target], Body("arrived"), moved, source, seqs[0]);

        Assert.Equal(-1, moved[0]);
        Assert.Equal(["leaves"], Bodies(store, "source"));
    }

    [Fact]
    public async Task A_move_from_a_message_the_source_never_had_is_refused()
    {
        await using var store = await MessageStore.OpenAsync(Options());
        var source = await store.DeclareQueueAsync("source");
        var target = await store.DeclareQueueAsync("a");

        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(async () => await store.AppendMovingAsync([target], Body("x"), new long[1], source, 0));
        Assert.Empty(Bodies(store, "a"));
    }

    private static void AssertContents(MessageStore store, string[] expectedSource, string[] expectedA, string[] expectedB)
    {
        Assert.Equal(expectedSource, Bodies(store, "source"));
        Assert.Equal(expectedA, Bodies(store, "a"));
        Assert.Equal(expectedB, Bodies(store, "b"));
    }

    private static List<string> Bodies(MessageStore store, string queueName)
    {
        var queue = store.FindQueue(queueName)!;
        var bodies = new List<string>();
        foreach (var entry in store.ListLive(queue))
        {
            Assert.True(store.TryRead(queue, entry.Seq, out var message));
            using (message)
            {
                bodies.Add(Encoding.UTF8.GetString(message!.Payload.Span));
            }
        }

        return bodies;
    }
}
