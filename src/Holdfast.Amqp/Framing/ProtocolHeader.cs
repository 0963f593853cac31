using System.Buffers;

namespace Holdfast.Amqp.Framing;

/// <summary>The 8 bytes a client sends before any frame: "AMQP", 0, then the version 0-9-1.</summary>
public static class ProtocolHeader
{
    public const int Length = 8;

    public static ReadOnlySpan<byte> Amqp091 => [(byte)'A', (byte)'M', (byte)'Q', (byte)'P', 0, 0, 9, 1];

    /// <remarks>
    /// A mismatch is reported as soon as one byte differs, so a peer speaking something else (an
    /// HTTP request, TLS) is turned away without waiting for 8 bytes that may never come.
    /// </remarks>
    public static ProtocolHeaderStatus TryRead(ref SequenceReader<byte> input)
    {
        Span<byte> received = stackalloc byte[Length];
        int available = (int)Math.Min(input.Remaining, Length);
        input.TryCopyTo(received[..available]);
        if (!received[..available].SequenceEqual(Amqp091[..available]))
        {
            return ProtocolHeaderStatus.Unsupported;
        }

        if (available < Length)
        {
            return ProtocolHeaderStatus.NeedMoreData;
        }

        input.Advance(Length);
        return ProtocolHeaderStatus.Accepted;
    }
}
