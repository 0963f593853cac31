using System.Buffers;
using System.Buffers.Binary;
using System.IO.Pipelines;
using Holdfast.Amqp.Codec;
using Holdfast.Amqp.Framing;

namespace Holdfast.Amqp.Tests.Support;

/// <summary>The server's side of a connection driven over in-memory pipes, read back as the methods it sent.</summary>
internal static class ServerReplies
{
    /// <summary>Reads methods until the server completes the pipe, or until <paramref name="until"/> has arrived.</summary>
    public static async Task<List<(int Channel, AmqpMethodId Method)>> ReadMethodsAsync(PipeReader reader, AmqpMethodId? until = null)
    {
        var methods = new List<(int, AmqpMethodId)>();
        while (true)
        {
            var result = await reader.ReadAsync();
            var buffer = result.Buffer;
            Cut(ref buffer, methods);
            reader.AdvanceTo(buffer.Start, buffer.End);
            if (result.IsCompleted || methods.Exists(m => m.Item2 == until))
            {
                return methods;
            }
        }
    }

    private static void Cut(ref ReadOnlySequence<byte> buffer, List<(int, AmqpMethodId)> methods)
    {
        var input = new SequenceReader<byte>(buffer);
        Span<byte> id = stackalloc byte[4];
        while (FrameReader.TryReadFrame(ref input, 1 << 20, out var frame, out _) == FrameReadStatus.Frame)
        {
            if (frame.Type == FrameType.Method)
            {
                frame.Payload.Slice(0, 4).CopyTo(id);
                methods.Add((frame.Channel, (AmqpMethodId)BinaryPrimitives.ReadUInt32BigEndian(id)));
            }
        }

        buffer = buffer.Slice(input.Position);
    }
}
