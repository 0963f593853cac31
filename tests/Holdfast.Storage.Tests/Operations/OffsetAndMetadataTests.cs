using Holdfast.Testing;

namespace Holdfast.Storage.Tests.Operations;

public sealed class OffsetAndMetadataTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private StoreOptions Options() => new() { Directory = Path.Combine(_dir.Path, "store"), AutoCompact = false };

    [Theory]
    [InlineData(ReopenMode.AfterClose)]
    [InlineData(ReopenMode.FromCrashImage)]
    public async Task Offsets_are_stored_overwritten_and_survive_reopen(ReopenMode mode)
    {
        var store = await MessageStore.OpenAsync(Options());
        try
        {
            Assert.Null(store.GetOffset("group/topic-0"));
            await store.SetOffsetAsync("group/topic-0", 1);
            await store.SetOffsetAsync("group/topic-1", 2);
            await store.CheckpointAsync();
            await store.SetOffsetAsync("group/topic-0", 5);
            await store.SetOffsetAsync("other/topic-0", long.MaxValue);
            Assert.Equal(5, store.GetOffset("group/topic-0"));

            store = await Reopen.Async(store, mode);
            Assert.Equal(5, store.GetOffset("group/topic-0"));
            Assert.Equal(2, store.GetOffset("group/topic-1"));
            Assert.Equal(long.MaxValue, store.GetOffset("other/topic-0"));
            Assert.Null(store.GetOffset("group/topic-2"));
        }
        finally
        {
            await store.DisposeAsync();
        }
    }

    [Theory]
    [InlineData(ReopenMode.AfterClose)]
    [InlineData(ReopenMode.FromCrashImage)]
    public async Task Metadata_is_put_replaced_deleted_and_survives_reopen(ReopenMode mode)
    {
        var large = new byte[10_000];
        new Random(7).NextBytes(large);
        var store = await MessageStore.OpenAsync(Options());
        try
        {
            Assert.Empty(store.GetMetadata());
            await store.PutMetadataAsync("exchange:amq.direct", "direct"u8);
            await store.PutMetadataAsync("user:guest", "v1"u8);
            await store.PutMetadataAsync("empty", ReadOnlySpan<byte>.Empty);
            await store.CheckpointAsync();
            await store.PutMetadataAsync("user:guest", "v2"u8);
            await store.PutMetadataAsync("policy:large", large);
            await store.DeleteMetadataAsync("exchange:amq.direct");
            await store.DeleteMetadataAsync("never-there");
            AssertMetadata(store.GetMetadata(), large);

            store = await Reopen.Async(store, mode);
            AssertMetadata(store.GetMetadata(), large);
        }
        finally
        {
            await store.DisposeAsync();
        }
    }

    private static void AssertMetadata(IReadOnlyDictionary<string, byte[]> metadata, byte[] large)
    {
        Assert.Equal(["empty", "policy:large", "user:guest"], metadata.Keys.Order(StringComparer.Ordinal));
        Assert.Empty(metadata["empty"]);
        Assert.Equal("v2"u8.ToArray(), metadata["user:guest"]);
        Assert.Equal(large, metadata["policy:large"]);
    }
}
