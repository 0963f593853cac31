using System.Buffers;
using Holdfast.Amqp.Codec;
using Holdfast.Amqp.Framing;
using Holdfast.Conformance.Tests.Support;
using Xunit.Abstractions;

namespace Holdfast.Conformance.Tests.Robustness;

public sealed class ScratchCancelRepro(ITestOutputHelper output)
{
    [Fact]
    public async Task Scratch_cancel_after_channel_close()
    {
        await using var broker = await InProcessBroker.StartAsync();
        await using var socket = await RawAmqpSocket.ConnectAsync(broker.Port);
        var capabilities = new FieldTable(new FieldTableEntry("consumer_cancel_notify", FieldValue.FromBoolean(true)));
        await socket.HandshakeAsync();
        foreach (ushort ch in new ushort[] { 1, 2 })
        {
            await socket.SendMethodAsync(ch, new ChannelOpen(ShortString.Empty));
            await socket.ExpectMethodAsync(AmqpMethodId.ChannelOpenOk);
        }

        await socket.SendMethodAsync(1, new QueueDeclare(0, "scratch-q", false, false, false, false, false, FieldTable.Empty));
        await socket.ExpectMethodAsync(AmqpMethodId.QueueDeclareOk);
        await socket.SendMethodAsync(1, new BasicConsume(0, "scratch-q", "ctag", false, false, false, false, FieldTable.Empty));
        await socket.ExpectMethodAsync(AmqpMethodId.BasicConsumeOk);

        var bytes = new ArrayBufferWriter<byte>();
        FrameWriter.WriteMethod(bytes, 1, new QueueDeclare(0, "scratch-missing", Passive: true, false, false, false, false, FieldTable.Empty), 131072);
        FrameWriter.WriteMethod(bytes, 2, new QueueDelete(0, "scratch-q", false, false, false), 131072);
        await socket.SendAsync(bytes.WrittenMemory);
        var log = new List<string>();
        while (true)
        {
            RawFrame? frame;
            try
            {
                frame = await socket.ReadFrameAsync(TimeSpan.FromMilliseconds(500));
            }
            catch (OperationCanceledException)
            {
                break;
            }

            if (frame is null)
            {
                break;
            }

            log.Add($"ch{frame.Channel} {(frame.Type == FrameType.Method ? AmqpMethodInfo.Name(frame.MethodId) : frame.Type.ToString())}");
        }

        output.WriteLine(string.Join(" | ", log));
    }
}
