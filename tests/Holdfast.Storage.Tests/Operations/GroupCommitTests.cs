using Holdfast.Testing;
using Xunit.Abstractions;

namespace Holdfast.Storage.Tests.Operations;

public sealed class GroupCommitTests(ITestOutputHelper output) : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task Concurrent_sync_appends_share_fsyncs()
    {
        const int Writers = 64;
        const int AppendsPerWriter = 20;
        var options = new StoreOptions { Directory = Path.Combine(_dir.Path, "store"), AutoCompact = false, DefaultFlushPolicy = FlushPolicy.Sync };
        await using (var store = await MessageStore.OpenAsync(options))
        {
            var queue = await store.DeclareQueueAsync("q");
            var before = store.GetStatistics().Fsyncs;
            using var start = new SemaphoreSlim(0);
            var writers = Enumerable.Range(0, Writers).Select(w => Task.Run(async () =>
            {
                await start.WaitAsync();
                for (var i = 0; i < AppendsPerWriter; i++)
                {
                    await store.AppendAsync([queue], BitConverter.GetBytes((w * AppendsPerWriter) + i));
                }
            })).ToList();
            start.Release(Writers);
            await Task.WhenAll(writers);

            var statistics = store.GetStatistics();
            var fsyncs = statistics.Fsyncs - before;
            const int Appends = Writers * AppendsPerWriter;
            output.WriteLine($"{fsyncs} fsyncs for {Appends} Sync appends");
            Assert.True(fsyncs < Appends / 2, $"{fsyncs} fsyncs for {Appends} Sync appends");
            Assert.True(fsyncs > 0);
            Assert.Equal(statistics.WrittenEnd, statistics.SyncedEnd);
        }

        await using (var store = await MessageStore.OpenAsync(options))
        {
            var queue = store.FindQueue("q")!;
            var values = new HashSet<int>();
            while (store.TryReadNext(queue, out var message))
            {
                using (message)
                {
                    Assert.True(values.Add(BitConverter.ToInt32(message!.Payload.Span)));
                }
            }

            Assert.Equal(Enumerable.Range(0, Writers * AppendsPerWriter), values.Order());
        }
    }
}
