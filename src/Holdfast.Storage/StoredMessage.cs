using System.Buffers;

namespace Holdfast.Storage;

/// <summary>A message read from a queue. Its payload lives in a pooled buffer: dispose it when done.</summary>
public sealed class StoredMessage : IDisposable
{
    private byte[]? _buffer;

    internal StoredMessage(long seq, int deliveryCount, byte[] buffer, int payloadOffset, int payloadLength)
    {
        Seq = seq;
        DeliveryCount = deliveryCount;
        _buffer = buffer;
        PayloadOffset = payloadOffset;
        PayloadLength = payloadLength;
    }

    /// <summary>The message's sequence number in its queue: what to ack, requeue or read from.</summary>
    public long Seq { get; }

    /// <summary>Times the message was requeued after a delivery (survives restarts).</summary>
    public int DeliveryCount { get; }

    public ReadOnlyMemory<byte> Payload => _buffer is null
        ? throw new ObjectDisposedException(nameof(StoredMessage))
        : _buffer.AsMemory(PayloadOffset, PayloadLength);

    private int PayloadOffset { get; }

    private int PayloadLength { get; }

    public void Dispose()
    {
        var buffer = Interlocked.Exchange(ref _buffer, null);
        if (buffer is not null)
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}
