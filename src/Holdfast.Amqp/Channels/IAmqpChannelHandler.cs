using System.Buffers;
using Holdfast.Amqp.Codec;

namespace Holdfast.Amqp.Channels;

/// <summary>
/// The seam where the broker plugs into an open channel. The connection keeps the connection and
/// channel classes (open, close, flow) and the framing rules to itself, and hands this handler
/// every method of the exchange, queue, basic, tx and confirm classes, then the content header and
/// body frames that follow a content-carrying method (basic.publish), in order.
/// </summary>
/// <remarks>
/// Calls come from the connection's read loop, one at a time, so a handler needs no lock for its
/// own state. Arguments and payloads borrow the read buffer and are valid only until the returned
/// task completes: copy what must outlive the call. Replies go through
/// <see cref="AmqpChannelContext.Output"/>. The content sequence is already checked: a header
/// follows its method, body frames add up to the header's body size and no more.
/// </remarks>
public interface IAmqpChannelHandler : IAsyncDisposable
{
    ValueTask<ChannelVerdict> HandleMethodAsync(AmqpMethodId method, ReadOnlyMemory<byte> arguments, CancellationToken cancellationToken);

    ValueTask<ChannelVerdict> HandleContentHeaderAsync(ContentHeader header, CancellationToken cancellationToken);

    /// <param name="isLast">True for the frame that completes the body.</param>
    ValueTask<ChannelVerdict> HandleContentBodyAsync(ReadOnlySequence<byte> body, bool isLast, CancellationToken cancellationToken);

    /// <summary>
    /// The end of a run of basic.ack frames this handler accepted: the connection calls it before it handles a frame
    /// of any other kind and before it waits for more input. Work an ack frees (deliveries into the prefetch window
    /// it opened) may wait for it, so that a consumer's acks read together cost one round of deliveries, not one each.
    /// No default body: a handler that wraps another must pass this on, or the deliveries its acks owe never go out.
    /// </summary>
    void AcksHandled();
}
