using Holdfast.Testing;

namespace Holdfast.Storage.Tests.Faults;

/// <summary>
/// After a failed fsync the kernel may already have dropped the dirty pages, so the data the store
/// wrote may be gone while a second fsync would report success. The store must fail the waiting
/// appends, confirm nothing more, never fsync that log again, and on reopening claim nothing it
/// reported as failed while keeping everything it had confirmed.
/// </summary>
public sealed class FailedFsyncTests
{
    [Fact]
    public async Task A_failed_log_fsync_fails_the_waiting_append_and_every_later_one_and_is_never_retried()
    {
        var device = new FaultyDevice();
        var confirmed = new List<int>();
        await using (var store = await MessageStore.OpenAsync(Options(device)))
        {
            var queue = await store.DeclareQueueAsync("q");
            for (var id = 0; id < 10; id++)
            {
                await store.AppendAsync([queue], TestPayload.Make(id), policy: FlushPolicy.Sync);
                confirmed.Add(id);
            }

            device.FailNextFsync("log/");
            var waiting = store.AppendAsync([queue], TestPayload.Make(10), policy: FlushPolicy.Sync);
            await Assert.ThrowsAsync<StorageFailedException>(() => waiting.AsTask());
            Assert.Equal(1, device.FailedFsyncs);
            var attemptsAtFailure = device.FsyncAttempts("log/");

            Assert.IsType<StorageFailedException>(store.Failure);
            Assert.True(store.GetStatistics().Failed);
            var id2 = 11;
            foreach (var policy in new[] { FlushPolicy.Sync, FlushPolicy.Async, FlushPolicy.Interval(TimeSpan.FromMilliseconds(1), 1), null })
            {
                await Assert.ThrowsAsync<StorageFailedException>(() => store.AppendAsync([queue], TestPayload.Make(id2++), policy: policy).AsTask());
            }

            Assert.True(store.TryReadNext(queue, out var delivered));
            delivered!.Dispose();
            await Assert.ThrowsAsync<StorageFailedException>(() => store.AckAsync(queue, delivered.Seq, FlushPolicy.Async).AsTask());
            await Assert.ThrowsAsync<StorageFailedException>(() => store.RequeueAsync(queue, delivered.Seq).AsTask());
            await Assert.ThrowsAsync<StorageFailedException>(() => store.PurgeAsync(queue).AsTask());
            await Assert.ThrowsAsync<StorageFailedException>(() => store.DeclareQueueAsync("other"));
            await Assert.ThrowsAsync<StorageFailedException>(() => store.PutMetadataAsync("k", [1]).AsTask());
            await Assert.ThrowsAsync<StorageFailedException>(store.CheckpointAsync);

            await store.DisposeAsync();
            Assert.Equal(attemptsAtFailure, device.FsyncAttempts("log/"));

            // The worst case for claims: everything still unsynced reaches the disk. The failed append
            // is still absent, because the failed fsync dropped it and nothing wrote it again.
            device = device.Crash((_, writes) => KeptWrites.All(writes));
        }

        await using (var store = await MessageStore.OpenAsync(Options(device)))
        {
            Assert.Equal(confirmed, StoreContents.Ids(store, "q"));
            Assert.Null(store.FindQueue("other"));
            Assert.Empty(store.GetMetadata());
            Assert.Empty(store.Recovery.CorruptRecords);

            // Reopened, the store works again.
            await store.AppendAsync([store.FindQueue("q")!], TestPayload.Make(100), policy: FlushPolicy.Sync);
            Assert.Equal([.. confirmed, 100], StoreContents.Ids(store, "q"));
        }
    }

    [Fact]
    public async Task Appends_batched_with_the_failed_fsync_all_fail_and_none_is_claimed_after_a_crash()
    {
        var device = new FaultyDevice();
        await using (var store = await MessageStore.OpenAsync(Options(device)))
        {
            var queue = await store.DeclareQueueAsync("q");
            await store.AppendAsync([queue], TestPayload.Make(0), policy: FlushPolicy.Sync);

            device.FailNextFsync("log/");
            var appends = Enumerable.Range(1, 50)
                .Select(id => store.AppendAsync([queue], TestPayload.Make(id), policy: FlushPolicy.Sync))
                .ToList();
            foreach (var append in appends)
            {
                await Assert.ThrowsAsync<StorageFailedException>(() => append.AsTask());
            }

            device = device.Crash();
        }

        await using (var store = await MessageStore.OpenAsync(Options(device)))
        {
            Assert.Equal([0], StoreContents.Ids(store, "q"));
        }
    }

    [Fact]
    public async Task A_failed_fsync_of_a_queue_index_file_during_a_checkpoint_stops_the_store()
    {
        var device = new FaultyDevice();
        await using (var store = await MessageStore.OpenAsync(Options(device)))
        {
            var queue = await store.DeclareQueueAsync("q");
            for (var id = 0; id < 5; id++)
            {
                await store.AppendAsync([queue], TestPayload.Make(id), policy: FlushPolicy.Sync);
            }

            device.FailNextFsync("queues/");
            var error = await Assert.ThrowsAsync<StorageFailedException>(store.CheckpointAsync);
            Assert.IsType<IOException>(error.InnerException);
            Assert.Same(error, store.Failure);
            await Assert.ThrowsAsync<StorageFailedException>(() => store.AppendAsync([queue], TestPayload.Make(5), policy: FlushPolicy.Async).AsTask());
            device = device.Crash();
        }

        await using (var store = await MessageStore.OpenAsync(Options(device)))
        {
            Assert.Equal(Enumerable.Range(0, 5), StoreContents.Ids(store, "q"));
        }
    }

    private static StoreOptions Options(FaultyDevice device) => new()
    {
        Device = device,
        SegmentSizeBytes = 64 * 1024,
        AutoCompact = false,
    };
}
