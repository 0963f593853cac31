using System.Runtime.CompilerServices;
using System.Text;
using Holdfast.Testing;

namespace Holdfast.Storage.Tests.Fixtures;

/// <summary>
/// What the pinned store images (<c>Fixtures/store-v*</c>) share: the operations that wrote them, the
/// content every one of them must hold after recovery, and the check that opens a temporary copy. Each
/// image is written once by its format version's generator and committed; its test class keeps only
/// what is particular to that version.
/// </summary>
internal static class FixtureStore
{
    /// <summary>What every fixture holds after recovery: queue, seq, delivery count, payload label and size.</summary>
    public static readonly (string Queue, long Seq, int DeliveryCount, string Label, int Size)[] ExpectedMessages =
    [
        ("audit.log", 0, 0, "audit.log/0", 10),
        ("audit.log", 2, 0, "audit.log/2", 30),
        ("audit.log", 3, 0, "fan-out", 50),
        ("invoices", 1, 0, "invoices/1", 5000),
        ("invoices", 2, 0, "invoices/2", 17),
        ("invoices", 3, 0, "invoices/3", 64),
        ("late", 0, 0, "late/0", 123),
        ("orders", 1, 3, "orders/1", 1),
        ("orders", 4, 0, "orders/4", 100),
        ("orders", 5, 0, "orders/5", 1000),
        ("orders", 6, 0, "fan-out", 50),
        ("orders", 7, 0, "orders/7", 2),
        ("orders", 8, 0, "orders/8", 300),
        ("scratch", 0, 0, "scratch/0", 5),
    ];

    public static readonly Dictionary<string, uint> ExpectedQueueIds = new(StringComparer.Ordinal)
    {
        ["orders"] = 1,
        ["invoices"] = 2,
        ["audit.log"] = 3,
        ["scratch"] = 5,
        ["late"] = 6,
    };

    /// <summary>
    /// Opens a copy of the committed fixture <paramref name="fixtureName"/> made under
    /// <paramref name="scratch"/>, checks what recovery reports and that the content is exactly
    /// <see cref="ExpectedMessages"/>, then writes on top of it and reads that back after a reopen.
    /// <paramref name="recordsRecovered"/> is the number of records after the last checkpoint, which
    /// depends on how the version's records fell into segments.
    /// </summary>
    public static async Task OpensWithExactlyItsContentAsync(string fixtureName, string scratch, int recordsRecovered)
    {
        var path = Path.Combine(scratch, fixtureName);
        StoreDirectory.Copy(Path.Combine(AppContext.BaseDirectory, "Fixtures", fixtureName), path);

        await using (var store = await MessageStore.OpenAsync(Options(path)))
        {
            Assert.Equal(2, store.Recovery.CheckpointGeneration);
            Assert.Equal(recordsRecovered, store.Recovery.RecordsRecovered);
            Assert.Equal(0, store.Recovery.BytesTruncated);
            Assert.Empty(store.Recovery.CorruptRecords);
            Assert.Equal(0, store.Recovery.MessagesLost);
            Assert.Empty(store.Recovery.Warnings);
            AssertContent(store);

            // Counters carried by the format: the next queue id and each queue's next sequence number.
            Assert.Equal(7u, (await store.DeclareQueueAsync("after")).Id);
            var seqs = new long[1];
            await store.AppendAsync([store.FindQueue("orders")!], Body("orders/9", 9), seqs);
            Assert.Equal(9, seqs[0]);
        }

        // What this build wrote on top of the old image reads back too.
        await using (var store = await MessageStore.OpenAsync(Options(path)))
        {
            Assert.Equal(0, store.Recovery.RecordsRecovered);
            Assert.Equal(7u, store.FindQueue("after")!.Id);
            var orders = store.FindQueue("orders")!;
            var last = store.ReadRange(orders, 9, 10);
            Assert.Single(last);
            using (last[0])
            {
                Assert.Equal(Body("orders/9", 9), last[0].Payload.ToArray());
            }
        }
    }

    /// <summary>
    /// Writes the fixture <paramref name="fixtureName"/> into the source tree with this build's format,
    /// working under <paramref name="scratch"/>, and checks a copy of it. Refuses when it exists already.
    /// </summary>
    public static async Task GenerateAsync(string fixtureName, string scratch)
    {
        var target = Path.Combine(SourceDirectory(), fixtureName);
        if (Directory.Exists(target))
        {
            throw new InvalidOperationException($"{target} exists. A committed fixture is never rewritten: a format change adds the next version.");
        }

        var live = Path.Combine(scratch, "live");
        await using (var store = await MessageStore.OpenAsync(Options(live)))
        {
            await WriteAsync(store);
            StoreDirectory.Copy(live, target); // The crash image: records after the last checkpoint stay unreplayed.
        }

        var copy = Path.Combine(scratch, "check", fixtureName);
        StoreDirectory.Copy(target, copy);
        await using (var store = await MessageStore.OpenAsync(Options(copy)))
        {
            AssertContent(store);
        }
    }

    public static StoreOptions Options(string path) => new()
    {
        Directory = path,
        SegmentSizeBytes = 4096,
        AutoCompact = false,
        DefaultFlushPolicy = FlushPolicy.Sync,
    };

    /// <summary>A payload of exactly <paramref name="size"/> bytes: the label's UTF-8, then a pattern.</summary>
    public static byte[] Body(string label, int size)
    {
        var text = Encoding.UTF8.GetBytes(label);
        var body = new byte[size];
        for (var j = 0; j < size; j++)
        {
            body[j] = j < text.Length ? text[j] : (byte)((j * 31) ^ 0x5A);
        }

        return body;
    }

    public static void AssertContent(MessageStore store)
    {
        Assert.Equal(
            ExpectedQueueIds.OrderBy(q => q.Key, StringComparer.Ordinal).ToList(),
            store.Queues.Select(q => KeyValuePair.Create(q.Name, q.Id)).OrderBy(q => q.Key, StringComparer.Ordinal).ToList());
        Assert.Null(store.FindQueue("doomed"));

        var actual = new List<(string, long, int, string, int)>();
        var payloads = new List<byte[]>();
        foreach (var queue in store.Queues.OrderBy(q => q.Name, StringComparer.Ordinal))
        {
            Assert.Equal(ExpectedMessages.Count(m => m.Queue == queue.Name), queue.MessageCount);
            while (store.TryReadNext(queue, out var message))
            {
                using (message)
                {
                    var expected = ExpectedMessages.FirstOrDefault(m => m.Queue == queue.Name && m.Seq == message!.Seq);
                    actual.Add((queue.Name, message!.Seq, message.DeliveryCount, expected.Label ?? "?", message.Payload.Length));
                    payloads.Add(message.Payload.ToArray());
                }
            }
        }

        Assert.Equal(ExpectedMessages, actual);
        for (var i = 0; i < ExpectedMessages.Length; i++)
        {
            Assert.Equal(Body(ExpectedMessages[i].Label, ExpectedMessages[i].Size), payloads[i]);
        }

        Assert.Equal(43, store.GetOffset("group-a/orders"));
        Assert.Equal(8, store.GetOffset("group-b/invoices"));
        Assert.Equal(0, store.GetOffset("group-c/audit.log"));
        Assert.Null(store.GetOffset("group-d/none"));

        var metadata = store.GetMetadata();
        Assert.Equal(["vhost:/"], metadata.Keys);
        Assert.Equal("{\"name\":\"/\",\"v\":2}", Encoding.UTF8.GetString(metadata["vhost:/"]));
    }

    /// <summary>
    /// The operations every fixture records. Changing this changes nothing committed (a fixture is never
    /// regenerated), but the next version's generator runs it, and its image must hold the same content.
    /// </summary>
    public static async Task WriteAsync(MessageStore store)
    {
        var orders = await store.DeclareQueueAsync("orders");
        var invoices = await store.DeclareQueueAsync("invoices");
        var audit = await store.DeclareQueueAsync("audit.log");
        var doomed = await store.DeclareQueueAsync("doomed");
        var scratch = await store.DeclareQueueAsync("scratch");

        await AppendAsync(store, orders, [0, 1, 7, 8, 100, 1000]);
        await AppendAsync(store, invoices, [3000, 5000, 17, 64]);
        await AppendAsync(store, audit, [10, 20, 30]);
        await store.AppendAsync([orders, audit], Body("fan-out", 50));
        await AppendAsync(store, doomed, [40, 40]);
        await AppendAsync(store, scratch, [5, 6, 7]);
        await store.CheckpointAsync();

        Assert.Equal([0L, 1, 2], Deliver(store, orders, 3));
        await store.AckAsync(orders, [0L, 2]);
        await store.RequeueAsync(orders, 1);
        Assert.Equal([1L], Deliver(store, orders, 1));
        await store.RequeueAsync(orders, 1);
        Assert.Equal([0L], Deliver(store, invoices, 1));
        await store.AckAsync(invoices, 0);
        Assert.Equal([0L], Deliver(store, scratch, 1));
        Assert.Equal(2, await store.PurgeAsync(scratch));
        await store.SetOffsetAsync("group-a/orders", 42);
        await store.SetOffsetAsync("group-b/invoices", 7);
        await store.SetOffsetAsync("group-a/orders", 43);
        await store.PutMetadataAsync("vhost:/", Encoding.UTF8.GetBytes("{\"name\":\"/\"}"));
        await store.PutMetadataAsync("user:guest", Encoding.UTF8.GetBytes("secret"));
        await store.PutMetadataAsync("policy:ttl", new byte[] { 0, 1, 2, 255 });
        await store.DeleteMetadataAsync("user:guest");
        await store.DeleteQueueAsync(doomed);
        await store.CheckpointAsync();

        // Eleven records after the checkpoint, for recovery to replay.
        await AppendAsync(store, orders, [2, 300]);
        Assert.Equal([1L], Deliver(store, orders, 1));
        await store.RequeueAsync(orders, 1);
        await store.AckAsync(orders, 3);
        await store.SetOffsetAsync("group-b/invoices", 8);
        await store.SetOffsetAsync("group-c/audit.log", 0);
        await store.PutMetadataAsync("vhost:/", Encoding.UTF8.GetBytes("{\"name\":\"/\",\"v\":2}"));
        await store.DeleteMetadataAsync("policy:ttl");
        var late = await store.DeclareQueueAsync("late");
        await AppendAsync(store, late, [123]);
        await store.AckAsync(audit, 1);
    }

    /// <summary>The folder of the fixtures in the source tree, where a generator writes.</summary>
    public static string SourceDirectory([CallerFilePath] string path = "") => Path.GetDirectoryName(path)!;

    private static async Task AppendAsync(MessageStore store, StoredQueue queue, int[] sizes)
    {
        var seqs = new long[1];
        foreach (var size in sizes)
        {
            var seq = queue.NextAssigned;
            await store.AppendAsync([queue], Body($"{queue.Name}/{seq}", size), seqs);
            Assert.Equal(seq, seqs[0]);
        }
    }

    private static List<long> Deliver(MessageStore store, StoredQueue queue, int count)
    {
        var seqs = new List<long>();
        for (var i = 0; i < count && store.TryReadNext(queue, out var message); i++)
        {
            seqs.Add(message!.Seq);
            message.Dispose();
        }

        return seqs;
    }
}
