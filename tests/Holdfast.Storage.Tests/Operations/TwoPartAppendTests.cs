using System.Text;
using Holdfast.Testing;

namespace Holdfast.Storage.Tests.Operations;

/// <summary>
/// A payload appended in two parts (a head the caller encoded, a body it already held) is stored and read back as
/// the one payload they make together, for a plain append and for a move, before and after a restart.
/// </summary>
public sealed class TwoPartAppendTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Theory]
    [InlineData(ReopenMode.AfterClose)]
    [InlineData(ReopenMode.FromCrashImage)]
    public async Task The_parts_are_read_back_as_one_payload(ReopenMode mode)
    {
        var store = await MessageStore.OpenAsync(new StoreOptions { Directory = _dir.Path, SegmentSizeBytes = 1 << 20 });
        try
        {
            var source = await store.DeclareQueueAsync("source");
            var target = await store.DeclareQueueAsync("target");
            var seqs = new long[1];
            await store.AppendAsync([source], Bytes("head|"), Bytes("body"), seqs);
            await store.AppendAsync([source], Bytes("only a head"), default, seqs);
            await store.AppendAsync([source], default, Bytes("only a body"), seqs);
            var large = new byte[70_000];
            Random.Shared.NextBytes(large);
            await store.AppendAsync([source], Bytes("big|"), large, seqs);
            await store.AppendAsync([source], Bytes("moving"), default, seqs);
            await store.AppendMovingAsync([target], Bytes("moved|"), Bytes("on"), seqs, source, seqs[0]);

            string[] expectedSource = ["head|body", "only a head", "only a body", "big|" + Convert.ToHexString(large)];
            Assert.Equal(expectedSource, Payloads(store, "source"));
            Assert.Equal(["moved|on"], Payloads(store, "target"));

            store = await Reopen.Async(store, mode);
            Assert.Equal(expectedSource, Payloads(store, "source"));
            Assert.Equal(["moved|on"], Payloads(store, "target"));
        }
        finally
        {
            await store.DisposeAsync();
        }
    }

    private static byte[] Bytes(string text) => Encoding.UTF8.GetBytes(text);

    private static List<string> Payloads(MessageStore store, string queueName)
    {
        var queue = store.FindQueue(queueName)!;
        var payloads = new List<string>();
        foreach (var entry in store.ListLive(queue))
        {
            Assert.True(store.TryRead(queue, entry.Seq, out var message));
            using (message)
            {
                var payload = message!.Payload.Span;
                payloads.Add(payload.StartsWith("big|"u8) ? "big|" + Convert.ToHexString(payload[4..]) : Encoding.UTF8.GetString(payload));
            }
        }

        return payloads;
    }
}
