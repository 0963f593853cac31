using System.Buffers.Binary;
using System.Globalization;
using System.Text;

namespace Holdfast.Storage.CrashWriter;

/// <summary>
/// What the crash writer and the test that kills it agree on: the store's options, the queues, how a
/// message id maps to its queue and payload, which ids get acked, and the report lines on stdout.
/// <para>
/// Report lines (one per completed operation, written only after its task completed):
/// <c>R records=… truncated=… corrupt=… lost=… rebuilt=…</c> once the store is open;
/// <c>A {queue} {id}</c> after an append; <c>K {queue} {id}</c> after an ack; every 50 ms
/// <c>S overlapped=…</c>, the fsyncs the syncer thread made so far.
/// </para>
/// <para>
/// Whether an id is acked at all is a function of the id, so the test knows which messages may
/// legitimately vanish (an ack in flight at the kill) and which must survive every crash.
/// </para>
/// </summary>
public static class CrashProtocol
{
    public const int Writers = 4;
    public const int InFlightPerWriter = 32;

    public static IReadOnlyList<string> QueueNames { get; } = ["crash-a", "crash-b", "crash-c"];

    /// <summary>Small segments, frequent checkpoints and an early hand-off to the syncer, so that rolls, checkpoints, compaction and overlapped fsyncs all happen within a short run.</summary>
    public static StoreOptions Options(string directory, bool directWrites = false) => new()
    {
        DirectWrites = directWrites,
        DirectWriteMinimumBytes = 8 * 1024,
        Directory = directory,
        SegmentSizeBytes = 256 * 1024,
        CheckpointEveryBytes = 1024 * 1024,
        AutoCompact = true,
        DefaultFlushPolicy = FlushPolicy.Sync,

        // Every fsync goes to the syncer thread (the default hands off only from 64 KiB pending), so the
        // kills land while the writer writes beside one. The broker's own crash test keeps the default.
        SyncHandOffBytes = 0,
    };

    /// <summary>The writer's optional third argument: the log writes past the page cache.</summary>
    public const string DirectArgument = "direct";

    public static string Id(int cycle, int writer, long n) =>
        string.Create(CultureInfo.InvariantCulture, $"c{cycle}.w{writer}.{n}");

    public static int CycleOf(string id) =>
        int.Parse(id.AsSpan(1, id.IndexOf('.', StringComparison.Ordinal) - 1), NumberStyles.None, CultureInfo.InvariantCulture);

    public static string QueueOf(string id) => QueueNames[(int)(Hash(id) % (uint)QueueNames.Count)];

    /// <summary>About half the ids are acked by the writer right after their append completes.</summary>
    public static bool IsAckCandidate(string id) => ((Hash(id) >> 8) & 1) == 0;

    /// <summary>The id, a separator, then filler derived from the id: mostly small, now and then 16 KiB or more.</summary>
    public static byte[] Payload(string id)
    {
        var hash = Hash(id);
        var fillerLength = hash % 64 == 0 ? 16_384 + (int)(hash % 4096) : (int)(hash % 600);
        var prefix = Encoding.UTF8.GetBytes(id + "|");
        var payload = new byte[prefix.Length + fillerLength];
        prefix.CopyTo(payload, 0);
        Fill(payload.AsSpan(prefix.Length), hash);
        return payload;
    }

    /// <summary>Returns the id a payload carries when the payload is exactly what <see cref="Payload"/> makes for it.</summary>
    public static bool TryVerify(ReadOnlySpan<byte> payload, out string id)
    {
        id = string.Empty;
        var separator = payload.IndexOf((byte)'|');
        if (separator <= 0)
        {
            return false;
        }

        var candidate = Encoding.UTF8.GetString(payload[..separator]);
        if (!payload.SequenceEqual(Payload(candidate)))
        {
            return false;
        }

        id = candidate;
        return true;
    }

    /// <summary>FNV-1a over the UTF-16 code units: stable across runs and processes, unlike string.GetHashCode.</summary>
    public static uint Hash(string id)
    {
        var hash = 2166136261u;
        foreach (var c in id)
        {
            hash = (hash ^ c) * 16777619u;
        }

        return hash;
    }

    private static void Fill(Span<byte> filler, uint seed)
    {
        var state = seed | 1;
        var i = 0;
        for (; i + 4 <= filler.Length; i += 4)
        {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            BinaryPrimitives.WriteUInt32LittleEndian(filler[i..], state);
        }

        for (; i < filler.Length; i++)
        {
            filler[i] = (byte)(state >> (8 * (i & 3)));
        }
    }
}
