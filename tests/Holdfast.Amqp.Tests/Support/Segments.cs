using System.Buffers;

namespace Holdfast.Amqp.Tests.Support;

/// <summary>Builds multi-segment sequences, the shape a PipeReader hands over when data arrives in pieces.</summary>
internal static class Segments
{
    public static ReadOnlySequence<byte> Split(byte[] bytes, params int[] cuts)
    {
        var pieces = new List<byte[]>();
        int start = 0;
        foreach (int cut in cuts.Order())
        {
            pieces.Add(bytes[start..cut]);
            start = cut;
        }

        pieces.Add(bytes[start..]);
        return Join(pieces);
    }

    public static ReadOnlySequence<byte> OneBytePerSegment(byte[] bytes) => Join(bytes.Select(b => new[] { b }).ToList());

    public static ReadOnlySequence<byte> Join(IReadOnlyList<byte[]> pieces)
    {
        if (pieces.Count == 0)
        {
            return ReadOnlySequence<byte>.Empty;
        }

        var first = new Segment(pieces[0], 0);
        var last = first;
        foreach (var piece in pieces.Skip(1))
        {
            last = last.Append(piece);
        }

        return new ReadOnlySequence<byte>(first, 0, last, last.Memory.Length);
    }

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(ReadOnlyMemory<byte> memory, long runningIndex)
        {
            Memory = memory;
            RunningIndex = runningIndex;
        }

        public Segment Append(ReadOnlyMemory<byte> memory)
        {
            var next = new Segment(memory, RunningIndex + Memory.Length);
            Next = next;
            return next;
        }
    }
}
