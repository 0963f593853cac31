using System.Buffers;
using Holdfast.Amqp.Codec;
using Holdfast.Amqp.Framing;
using Holdfast.Conformance.Tests.Support;

namespace Holdfast.Conformance.Tests.Broker;

/// <summary>
/// A content header may claim any 64-bit body size. One past the configured maximum is refused with 406, as
/// RabbitMQ does; so is one of 2^63 or more, which a signed comparison once let through (the connection then
/// died of an internal error instead). RabbitMQ.Client 7 cannot send such a header, so a raw socket does.
/// </summary>
public sealed class HugeBodySizeTests
{
    [Theory]
    [InlineData(128UL * 1024 * 1024 + 1)]
    [InlineData(1UL << 63)]
    [InlineData(ulong.MaxValue)]
    public async Task A_claimed_body_size_past_the_maximum_closes_the_channel_with_406_and_the_connection_goes_on(ulong bodySize)
    {
        await using var broker = await InProcessBroker.StartAsync();
        await using var raw = await RawChannel.OpenAsync(broker);

        var output = new ArrayBufferWriter<byte>();
        FrameWriter.WriteMethod(output, RawChannel.Number, new BasicPublish(0, "", "nowhere", Mandatory: false, Immediate: false), RawChannel.FrameMax);
        FrameWriter.WriteContentHeader(output, RawChannel.Number, new ContentHeader(bodySize, new BasicProperties()), RawChannel.FrameMax);
        await raw.Socket.SendAsync(output.WrittenMemory);

        var close = await raw.ExpectAsync(AmqpMethodId.ChannelClose);
        Assert.True(ChannelClose.TryDecodeArguments(close.Arguments, out var reason, out _));
        Assert.Equal(406, reason.ReplyCode);
        Assert.Equal($"PRECONDITION_FAILED - message size {bodySize} is larger than configured max size 134217728", reason.ReplyText.ToString());

        // Only the channel closed: the connection answers on a new one.
        await raw.Socket.SendMethodAsync(RawChannel.Number, new ChannelCloseOk());
        await raw.Socket.SendMethodAsync(2, new ChannelOpen(ShortString.Empty));
        var opened = await raw.Socket.ExpectMethodAsync(AmqpMethodId.ChannelOpenOk);
        Assert.Equal(2, opened.Channel);
    }
}
