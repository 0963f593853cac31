using System.Buffers.Binary;

namespace Holdfast.Storage.Tests.Faults;

/// <summary>
/// Message bodies that name themselves: a unique 32-bit id, then filler derived from the id. A body
/// read back is checked whole, so a damaged record that slipped through would be caught, and an id
/// that was never appended is recognised.
/// </summary>
internal static class TestPayload
{
    public static byte[] Make(int id, int length = 32)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(length, 4);
        var body = new byte[length];
        BinaryPrimitives.WriteInt32LittleEndian(body, id);
        for (var i = 4; i < length; i++)
        {
            body[i] = Filler(id, i);
        }

        return body;
    }

    /// <summary>
    /// Appends bodies 0 to <paramref name="count"/> - 1 to <paramref name="queue"/>, sixty-four at a time: group
    /// commits of many records, and a few hundred writes (and, under <see cref="FlushPolicy.Sync"/>, fsyncs) in all.
    /// </summary>
    public static async Task AppendInGroupsAsync(MessageStore store, StoredQueue queue, int count, int length, FlushPolicy policy)
    {
        for (var first = 0; first < count; first += 64)
        {
            var group = Enumerable.Range(first, Math.Min(64, count - first))
                .Select(id => store.AppendAsync([queue], Make(id, length), policy: policy).AsTask());
            await Task.WhenAll(group);
        }
    }

    /// <summary>The body's id; throws when the body is not one <see cref="Make"/> produced.</summary>
    public static int Id(ReadOnlySpan<byte> body)
    {
        if (body.Length < 4)
        {
            throw new InvalidDataException($"A {body.Length}-byte body is too short to be a test payload.");
        }

        var id = BinaryPrimitives.ReadInt32LittleEndian(body);
        for (var i = 4; i < body.Length; i++)
        {
            if (body[i] != Filler(id, i))
            {
                throw new InvalidDataException($"Body of message {id} is damaged at byte {i}.");
            }
        }

        return id;
    }

    private static byte Filler(int id, int index) => (byte)((id * 31) + (index * 7) + 1);
}
