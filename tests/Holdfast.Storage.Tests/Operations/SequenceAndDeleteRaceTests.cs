using Holdfast.Testing;

namespace Holdfast.Storage.Tests.Operations;

public sealed class SequenceAndDeleteRaceTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private StoreOptions Options() => new() { Directory = _dir.Path, SegmentSizeBytes = 64 * 1024, AutoCompact = false };

    [Fact]
    public async Task Sequence_numbers_of_an_acked_tail_are_never_handed_out_again_across_restarts()
    {
        await using (var store = await MessageStore.OpenAsync(Options()))
        {
            var queue = await store.DeclareQueueAsync("q");
            for (var i = 0; i < 5; i++)
            {
                await store.AppendAsync([queue], [(byte)i]);
            }

            await store.AckAsync(queue, [3, 4]);
            await store.CheckpointAsync();
        }

        // Two restarts: the first loads only the live entries, the second loads what the first checkpointed.
        for (var restart = 0; restart < 2; restart++)
        {
            await using var store = await MessageStore.OpenAsync(Options());
            await store.CheckpointAsync();
        }

        await using (var store = await MessageStore.OpenAsync(Options()))
        {
            var queue = store.FindQueue("q")!;
            var seqs = new long[1];
            await store.AppendAsync([queue], [42], seqs);
            Assert.Equal(5, seqs[0]);
            await store.CheckpointAsync();
        }

        await using (var store = await MessageStore.OpenAsync(Options()))
        {
            var queue = store.FindQueue("q")!;
            var seen = new List<(long Seq, byte Value)>();
            while (store.TryReadNext(queue, out var message))
            {
                using (message)
                {
                    seen.Add((message!.Seq, message.Payload.Span[0]));
                }
            }

            Assert.Equal(new (long, byte)[] { (0, 0), (1, 1), (2, 2), (5, 42) }, seen);
        }
    }

    [Fact]
    public async Task A_queue_being_deleted_takes_no_appends_and_its_name_can_be_declared_again()
    {
        await using (var store = await MessageStore.OpenAsync(Options()))
        {
            var old = await store.DeclareQueueAsync("jobs");
            await store.AppendAsync([old], [1]);

            var deleting = store.DeleteQueueAsync(old);
            var seqs = new long[1];
            await store.AppendAsync([old], [2], seqs);
            Assert.Equal(-1, seqs[0]);

            var fresh = await store.DeclareQueueAsync("jobs");
            Assert.NotEqual(old.Id, fresh.Id);
            await store.AppendAsync([fresh], [3], seqs);
            Assert.Equal(0, seqs[0]);
            await deleting;
            Assert.True(old.IsDeleted);
            Assert.Same(fresh, store.FindQueue("jobs"));
        }

        await using (var store = await MessageStore.OpenAsync(Options()))
        {
            var queue = store.FindQueue("jobs")!;
            Assert.True(store.TryReadNext(queue, out var message));
            using (message)
            {
                Assert.Equal(3, message!.Payload.Span[0]);
            }

            Assert.False(store.TryReadNext(queue, out _));
        }
    }
}
