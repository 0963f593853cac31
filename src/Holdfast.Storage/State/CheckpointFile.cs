using System.Buffers.Binary;
using System.IO.Hashing;
using Holdfast.Storage.Devices;
using Holdfast.Storage.Binary;

namespace Holdfast.Storage.State;

/// <summary>
/// Checkpoints alternate between two files, <c>checkpoint.0</c> and <c>checkpoint.1</c>, by generation:
/// a crash while writing one leaves the other intact, and opening takes the newest that verifies.
/// Reclamation only deletes what both retained checkpoints no longer need, so falling back to the
/// older one is always sound.
/// <code>
/// offset  size  field
///      0     4  magic "HFCP"
///      4     2  format version, 1
///      6     2  reserved, 0
///      8     4  body length
///     12     4  CRC-32C of the body
///     16     n  body: i64 generation, i64 log position, u32 next queue id,
///               u32 queues × (u32 id, u16+UTF-8 name, i64 head, i64 next,
///                             u32 acked ranges × (i64 start, u32 count),
///                             u32 delivery counts × (i64 seq, u32 count)),
///               u32 offsets × (u16+UTF-8 key, i64 value),
///               u32 metadata × (u16+UTF-8 key, u32 length, bytes)
/// </code>
/// </summary>
internal static class CheckpointFile
{
    private const uint Magic = 0x50434648; // "HFCP" little-endian
    private const ushort Version = 1;
    private const int HeaderSize = 16;

    public static string PathFor(long generation) => $"checkpoint.{generation & 1}";

    public static void Write(IStorageDevice device, Checkpoint checkpoint)
    {
        var body = Encode(checkpoint);
        var file = new byte[HeaderSize + body.Length];
        BinaryPrimitives.WriteUInt32LittleEndian(file, Magic);
        BinaryPrimitives.WriteUInt16LittleEndian(file.AsSpan(4), Version);
        BinaryPrimitives.WriteInt32LittleEndian(file.AsSpan(8), body.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(file.AsSpan(12), Crc32.HashToUInt32(Crc32ParameterSet.Crc32C, body));
        body.CopyTo(file.AsSpan(HeaderSize));

        var path = PathFor(checkpoint.Generation);
        var created = !device.FileExists(path);
        using (var handle = device.Open(path, create: true))
        {
            handle.Write(0, file);
            handle.SetLength(file.Length);
            handle.Flush();
        }

        if (created)
        {
            device.SyncDirectory(string.Empty);
        }
    }

    /// <summary>The newest checkpoint that verifies, and warnings about any that did not.</summary>
    public static Checkpoint? ReadNewest(IStorageDevice device, List<string> warnings)
    {
        Checkpoint? best = null;
        foreach (var path in new[] { "checkpoint.0", "checkpoint.1" })
        {
            if (!device.FileExists(path))
            {
                continue;
            }

            var candidate = TryRead(device, path, out var problem);
            if (candidate is null)
            {
                warnings.Add($"{path} is unusable ({problem}); the other checkpoint is used if it verifies.");
            }
            else if (best is null || candidate.Generation > best.Generation)
            {
                best = candidate;
            }
        }

        return best;
    }

    private static Checkpoint? TryRead(IStorageDevice device, string path, out string problem)
    {
        using var file = device.Open(path, create: false);
        var bytes = new byte[file.Length];
        if (file.Read(0, bytes) != bytes.Length || bytes.Length < HeaderSize)
        {
            problem = "too short";
            return null;
        }

        var length = BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(8));
        if (BinaryPrimitives.ReadUInt32LittleEndian(bytes) != Magic
            || BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(4)) != Version
            || length < 0 || length > bytes.Length - HeaderSize)
        {
            problem = "bad header";
            return null;
        }

        var body = bytes.AsSpan(HeaderSize, length);
        if (Crc32.HashToUInt32(Crc32ParameterSet.Crc32C, body) != BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(12)))
        {
            problem = "CRC mismatch";
            return null;
        }

        try
        {
            problem = string.Empty;
            return Decode(body);
        }
        catch (InvalidDataException ex)
        {
            problem = ex.Message;
            return null;
        }
    }

    private static byte[] Encode(Checkpoint checkpoint)
    {
        var size = 8 + 8 + 4 + 4 + 4 + 4;
        foreach (var queue in checkpoint.Queues)
        {
            size += 4 + SpanWriter.ShortStringSize(queue.Name) + 8 + 8 + 4 + (queue.AckedRanges.Count * 12) + 4 + (queue.DeliveryCounts.Count * 12);
        }

        foreach (var (key, _) in checkpoint.Offsets)
        {
            size += SpanWriter.ShortStringSize(key) + 8;
        }

        foreach (var (key, value) in checkpoint.Metadata)
        {
            size += SpanWriter.ShortStringSize(key) + 4 + value.Length;
        }

        var body = new byte[size];
        var writer = new SpanWriter(body);
        writer.I64(checkpoint.Generation);
        writer.I64(checkpoint.LogPosition);
        writer.U32(checkpoint.NextQueueId);
        writer.U32((uint)checkpoint.Queues.Count);
        foreach (var queue in checkpoint.Queues)
        {
            writer.U32(queue.Id);
            writer.ShortString(queue.Name);
            writer.I64(queue.Head);
            writer.I64(queue.Next);
            writer.U32((uint)queue.AckedRanges.Count);
            foreach (var (start, count) in queue.AckedRanges)
            {
                writer.I64(start);
                writer.U32((uint)count);
            }

            writer.U32((uint)queue.DeliveryCounts.Count);
            foreach (var (seq, count) in queue.DeliveryCounts)
            {
                writer.I64(seq);
                writer.U32((uint)count);
            }
        }

        writer.U32((uint)checkpoint.Offsets.Count);
        foreach (var (key, value) in checkpoint.Offsets)
        {
            writer.ShortString(key);
            writer.I64(value);
        }

        writer.U32((uint)checkpoint.Metadata.Count);
        foreach (var (key, value) in checkpoint.Metadata)
        {
            writer.ShortString(key);
            writer.U32((uint)value.Length);
            writer.Bytes(value);
        }

        return body;
    }

    private static Checkpoint Decode(ReadOnlySpan<byte> body)
    {
        var reader = new SpanReader(body);
        var generation = reader.I64();
        var position = reader.I64();
        var nextQueueId = reader.U32();
        var queueCount = reader.U32();
        var queues = new List<QueueSnapshot>();
        for (var q = 0; q < queueCount; q++)
        {
            var id = reader.U32();
            var name = reader.ShortString();
            var head = reader.I64();
            var next = reader.I64();
            var ranges = new List<(long, int)>();
            var rangeCount = reader.U32();
            for (var i = 0; i < rangeCount; i++)
            {
                ranges.Add((reader.I64(), (int)reader.U32()));
            }

            var counts = new List<(long, int)>();
            var countCount = reader.U32();
            for (var i = 0; i < countCount; i++)
            {
                counts.Add((reader.I64(), (int)reader.U32()));
            }

            queues.Add(new QueueSnapshot(id, name, head, next, ranges, counts));
        }

        var offsets = new Dictionary<string, long>(StringComparer.Ordinal);
        var offsetCount = reader.U32();
        for (var i = 0; i < offsetCount; i++)
        {
            var key = reader.ShortString();
            offsets[key] = reader.I64();
        }

        var metadata = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        var metadataCount = reader.U32();
        for (var i = 0; i < metadataCount; i++)
        {
            var key = reader.ShortString();
            metadata[key] = reader.Bytes((int)reader.U32()).ToArray();
        }

        return new Checkpoint(generation, position, nextQueueId, queues, offsets, metadata);
    }
}
