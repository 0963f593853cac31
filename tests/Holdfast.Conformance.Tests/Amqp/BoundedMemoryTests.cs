using System.Buffers;
using Holdfast.Amqp.Codec;
using Holdfast.Amqp.Framing;
using Holdfast.Conformance.Tests.Support;

namespace Holdfast.Conformance.Tests.Amqp;

/// <summary>A size a client announces is a claim, not a reason to allocate.</summary>
public sealed class BoundedMemoryTests
{
    [Fact]
    public async Task Announcing_huge_bodies_on_many_channels_without_sending_them_allocates_next_to_nothing()
    {
        await using var broker = await InProcessBroker.StartAsync();
        await using var socket = await RawAmqpSocket.ConnectAsync(broker.Port);
        await socket.HandshakeAsync();
        const int Channels = 40;
        const ulong Announced = 120UL * 1024 * 1024;

        var before = GC.GetTotalAllocatedBytes(precise: true);
        for (ushort channel = 1; channel <= Channels; channel++)
        {
            await socket.SendMethodAsync(channel, new ChannelOpen(ShortString.Empty));
            await socket.ExpectMethodAsync(AmqpMethodId.ChannelOpenOk);
            var frames = new ArrayBufferWriter<byte>();
            FrameWriter.WriteMethod(frames, channel, new BasicPublish(0, "", "nowhere", false, false), 131072);
            FrameWriter.WriteContentHeader(frames, channel, new ContentHeader(Announced, default), 131072);
            await socket.SendAsync(frames.WrittenMemory);
        }

        // A round trip on one more channel proves every announcement above has been read and handled.
        await socket.SendMethodAsync(Channels + 1, new ChannelOpen(ShortString.Empty));
        await socket.ExpectMethodAsync(AmqpMethodId.ChannelOpenOk);
        var allocated = GC.GetTotalAllocatedBytes(precise: true) - before;

        // 40 × 120 MiB = 4.7 GiB announced; allocating for the claims would show here.
        Assert.True(allocated < 256L * 1024 * 1024, $"{allocated / (1024 * 1024)} MiB allocated for bodies that never came");
    }
}
