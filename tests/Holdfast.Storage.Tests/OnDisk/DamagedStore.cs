using System.Text;
using Holdfast.Testing;

namespace Holdfast.Storage.Tests.OnDisk;

/// <summary>
/// A store of ten messages, <c>msg-00-…</c> to <c>msg-09-…</c>, on the real file system, for tests
/// that damage its files between runs. Each message is one record: a 20-byte header, the target list
/// (u16 count, u32 queue id, i64 seq), then the body, so a body's marker sits 34 bytes into its record.
/// </summary>
internal static class DamagedStore
{
    public const int Messages = 10;
    public const int MarkerOffsetInRecord = 20 + 2 + 12;

    public static StoreOptions Options(string directory, Action<CorruptionReport>? onCorruption = null) => new()
    {
        // The images' byte layout is exact: no zeros prepared past the data.
        PrepareAheadBytes = 0,
        Directory = directory,
        SegmentSizeBytes = 1 << 20,
        AutoCompact = false,
        OnCorruption = onCorruption,
    };

    public static byte[] Marker(int i) => Encoding.UTF8.GetBytes($"msg-{i:D2}-");

    /// <summary>207 bytes: a record of 241 bytes padded to 248, so a cut can land in the padding.</summary>
    public static byte[] Body(int i) => [.. Marker(i), .. Encoding.UTF8.GetBytes(new string((char)('a' + i), 200))];

    public static async Task<MessageStore> WriteAsync(string directory, int checkpointAfter = Messages)
    {
        var store = await MessageStore.OpenAsync(Options(directory));
        var queue = await store.DeclareQueueAsync("q");
        for (var i = 0; i < Messages; i++)
        {
            if (i == checkpointAfter)
            {
                await store.CheckpointAsync();
            }

            await store.AppendAsync([queue], Body(i));
        }

        return store;
    }

    /// <summary>Where message <paramref name="i"/>'s record starts: its segment file and offset in it.</summary>
    public static (string Path, long Offset) Record(string directory, int i)
    {
        var (path, markerAt) = StoreDirectory.Find(directory, Marker(i));
        return (path, markerAt - MarkerOffsetInRecord);
    }

    /// <summary>Reads everything ready, as (seq, body) pairs.</summary>
    public static List<(long Seq, string Body)> Drain(MessageStore store, string queueName = "q")
    {
        var queue = store.FindQueue(queueName)!;
        var result = new List<(long, string)>();
        while (store.TryReadNext(queue, out var message))
        {
            using (message)
            {
                result.Add((message!.Seq, Encoding.UTF8.GetString(message.Payload.Span)));
            }
        }

        return result;
    }

    public static List<(long Seq, string Body)> Expected(IEnumerable<int> messages) =>
        [.. messages.Select(i => ((long)i, Encoding.UTF8.GetString(Body(i))))];
}
