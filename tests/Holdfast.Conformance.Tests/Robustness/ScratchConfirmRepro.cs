using System.Buffers;
using Holdfast.Amqp.Codec;
using Holdfast.Amqp.Framing;
using Holdfast.Conformance.Tests.Support;
using Xunit.Abstractions;

namespace Holdfast.Conformance.Tests.Robustness;

public sealed class ScratchConfirmRepro(ITestOutputHelper output)
{
    [Fact]
    public async Task Scratch_confirms_after_channel_close()
    {
        await using var broker = await InProcessBroker.StartAsync();
        await using var socket = await RawAmqpSocket.ConnectAsync(broker.Port);
        await socket.HandshakeAsync();
        await socket.SendMethodAsync(1, new ChannelOpen(ShortString.Empty));
        await socket.ExpectMethodAsync(AmqpMethodId.ChannelOpenOk);
        await socket.SendMethodAsync(1, new QueueDeclare(0, "scratch-durable", false, true, false, false, false, FieldTable.Empty));
        await socket.ExpectMethodAsync(AmqpMethodId.QueueDeclareOk);
        await socket.SendMethodAsync(1, new ConfirmSelect(false));
        await socket.ExpectMethodAsync(AmqpMethodId.ConfirmSelectOk);

        var bytes = new ArrayBufferWriter<byte>();
        for (int i = 0; i < 20; i++)
        {
            FrameWriter.WriteContent(bytes, 1, new BasicPublish(0, "", "scratch-durable", false, false), new BasicProperties { DeliveryMode = 2 }, new ReadOnlySequence<byte>(new byte[2_000_000]), 131072);
        }

        FrameWriter.WriteMethod(bytes, 1, new QueueDeclare(0, "scratch-missing", Passive: true, false, false, false, false, FieldTable.Empty), 131072);
        FrameWriter.WriteMethod(bytes, 1, new ChannelCloseOk(), 131072);
        FrameWriter.WriteMethod(bytes, 1, new ChannelOpen(ShortString.Empty), 131072);
        await socket.SendAsync(bytes.WrittenMemory);

        var log = new List<string>();
        bool closed = false;
        bool reopened = false;
        while (true)
        {
            RawFrame? frame;
            try
            {
                frame = await socket.ReadFrameAsync(TimeSpan.FromSeconds(1));
            }
            catch (OperationCanceledException)
            {
                break;
            }

            if (frame is null)
            {
                break;
            }

            string name = frame.Type == FrameType.Method ? AmqpMethodInfo.Name(frame.MethodId) : frame.Type.ToString();
            if (frame.Type == FrameType.Method && frame.MethodId == AmqpMethodId.BasicAck)
            {
                BasicAck.TryDecodeArguments(frame.Arguments, out var ack, out _);
                name += $" {ack.DeliveryTag} multiple={ack.Multiple}";
            }

            log.Add($"ch{frame.Channel} {name}" + (closed ? " (after channel.close)" : "") + (reopened ? " (on the reopened channel)" : ""));
            if (frame.Type == FrameType.Method && frame.MethodId == AmqpMethodId.ChannelClose)
            {
                closed = true;
            }

            if (frame.Type == FrameType.Method && frame.MethodId == AmqpMethodId.ChannelOpenOk)
            {
                reopened = true;
            }
        }

        output.WriteLine(string.Join("\n", log));
    }
}
