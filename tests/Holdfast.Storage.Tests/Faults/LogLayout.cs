using System.Buffers.Binary;
using Holdfast.Storage.Log;
using Holdfast.Testing;

namespace Holdfast.Storage.Tests.Faults;

/// <summary>Finds records in a faulty device's segment files, so a test can damage a chosen one.</summary>
internal static class LogLayout
{
    /// <summary>The segment path and file offset of the message record whose body carries <paramref name="id"/>.</summary>
    public static (string Path, long Offset, int Size) MessageRecord(FaultyDevice device, int id)
    {
        foreach (var name in device.ListFiles(Segment.Directory).Order(StringComparer.Ordinal))
        {
            if (!Segment.TryParseName(name, out var basePosition))
            {
                continue;
            }

            var path = $"{Segment.Directory}/{name}";
            var bytes = device.ReadAllBytes(path);
            var offset = 0;
            while (offset + RecordFormat.PeekSize <= bytes.Length
                && RecordFormat.TryDecode(bytes.AsSpan(offset), int.MaxValue, basePosition + offset, out var record))
            {
                if (record.Type == RecordType.Message)
                {
                    var payload = bytes.AsSpan(offset + record.HeaderSize, record.PayloadLength);
                    var bodyOffset = MessagePayload.Size(BinaryPrimitives.ReadUInt16LittleEndian(payload), 0);
                    if (TestPayload.Id(payload[bodyOffset..]) == id)
                    {
                        return (path, offset, record.SizeOnDisk);
                    }
                }

                offset += record.SizeOnDisk;
            }
        }

        throw new InvalidOperationException($"No record of message {id} in the log.");
    }
}
