using System.Buffers;
using System.Net;
using Holdfast.Amqp.Codec;
using Holdfast.Amqp.Framing;
using Holdfast.Conformance.Tests.Broker;
using Holdfast.Conformance.Tests.Support;
using RabbitMQ.Client;

namespace Holdfast.Conformance.Tests.Robustness;

/// <summary>
/// Regressions found by <see cref="Amqp.FrameFuzzTests"/>: work a channel had in flight when the broker closed it (a
/// confirm waiting for the store, a consumer of a queue deleted meanwhile) must not come out after channel.close, least
/// of all on a channel reopened under the same number; and messages that were unacked when their queue was deleted must
/// stop counting against the broker's memory.
/// </summary>
public sealed class LateFrameTests
{
    private const ushort Channel = 1;
    private const uint FrameMax = 131072;

    /// <summary>How long to listen for a frame that must not come.</summary>
    private static readonly TimeSpan Quiet = TimeSpan.FromMilliseconds(300);

    [Fact]
    public async Task Confirms_pending_when_the_broker_closes_a_channel_never_come_out_on_the_channel_reopened_under_its_number()
    {
        await using var broker = await InProcessBroker.StartAsync();
        string queue = BrokerKit.Unique("late-confirms");

        // The store takes a moment over the last of these bodies, so confirms are still pending when the passive declare
        // of a missing queue closes the channel; close-ok and channel.open follow at once, as a fast client sends them.
        // It is a race, so three rounds, each on a connection of its own.
        for (int round = 0; round < 3; round++)
        {
            await using var socket = await OpenAsync(broker);
            await socket.SendMethodAsync(Channel, new QueueDeclare(0, queue, Passive: false, Durable: true, Exclusive: false, AutoDelete: false, Nowait: false, FieldTable.Empty));
            await socket.ExpectMethodAsync(AmqpMethodId.QueueDeclareOk);
            var bytes = new ArrayBufferWriter<byte>();
            FrameWriter.WriteMethod(bytes, Channel, new ConfirmSelect(false), FrameMax);
            for (int i = 0; i < 8; i++)
            {
                FrameWriter.WriteContent(bytes, Channel, new BasicPublish(0, "", queue, false, false), new Holdfast.Amqp.Codec.BasicProperties { DeliveryMode = 2 }, new ReadOnlySequence<byte>(new byte[1_000_000]), FrameMax);
            }

            FrameWriter.WriteMethod(bytes, Channel, new QueueDeclare(0, BrokerKit.Unique("missing"), Passive: true, false, false, false, false, FieldTable.Empty), FrameMax);
            FrameWriter.WriteMethod(bytes, Channel, new ChannelCloseOk(), FrameMax);
            FrameWriter.WriteMethod(bytes, Channel, new ChannelOpen(ShortString.Empty), FrameMax);
            await socket.SendAsync(bytes.WrittenMemory);

            var frame = await NextAsync(socket);
            Assert.Equal("confirm.select-ok", Name(frame));
            ulong confirmed = 0;
            while ((frame = await NextAsync(socket)).MethodId == AmqpMethodId.BasicAck)
            {
                Assert.True(BasicAck.TryDecodeArguments(frame.Arguments, out var ack, out _));
                Assert.True(ack.DeliveryTag > confirmed && ack.DeliveryTag <= 8, $"round {round}: ack {ack.DeliveryTag} after {confirmed}");
                confirmed = ack.DeliveryTag;
            }

            Assert.Equal("channel.close", Name(frame));
            Assert.Equal((ushort)404, ChannelCloseCode(frame));
            Assert.Equal("channel.open-ok", Name(await NextAsync(socket)));

            // The reopened channel never selected confirms: an ack now would confirm its own first publishes.
            if (await TryNextAsync(socket, Quiet) is { } late)
            {
                Assert.Fail($"round {round}: {Name(late)} on channel {late.Channel} after the channel was closed and reopened ({confirmed} of 8 confirmed before)");
            }
        }

        await using var connection = await broker.Factory().CreateConnectionAsync();
        await using var cleanup = await connection.CreateChannelAsync();
        await cleanup.QueueDeleteAsync(queue);
    }

    [Fact]
    public async Task A_consumer_on_a_channel_the_broker_has_closed_gets_no_cancel_when_its_queue_goes()
    {
        await using var broker = await InProcessBroker.StartAsync();
        await using var socket = await OpenAsync(broker);
        await socket.SendMethodAsync(2, new ChannelOpen(ShortString.Empty));
        await socket.ExpectMethodAsync(AmqpMethodId.ChannelOpenOk);
        string queue = BrokerKit.Unique("late-cancel");
        await socket.SendMethodAsync(Channel, new QueueDeclare(0, queue, false, false, false, false, false, FieldTable.Empty));
        await socket.ExpectMethodAsync(AmqpMethodId.QueueDeclareOk);
        await socket.SendMethodAsync(Channel, new BasicConsume(0, queue, "late", false, false, false, false, FieldTable.Empty));
        await socket.ExpectMethodAsync(AmqpMethodId.BasicConsumeOk);

        // Channel 1 fails (404), and before its close-ok channel 2 deletes the queue channel 1 consumes from.
        var bytes = new ArrayBufferWriter<byte>();
        FrameWriter.WriteMethod(bytes, Channel, new QueueDeclare(0, BrokerKit.Unique("missing"), Passive: true, false, false, false, false, FieldTable.Empty), FrameMax);
        FrameWriter.WriteMethod(bytes, 2, new QueueDelete(0, queue, false, false, false), FrameMax);
        await socket.SendAsync(bytes.WrittenMemory);

        var frames = new List<RawFrame>();
        while (await TryNextAsync(socket, Quiet) is { } frame)
        {
            frames.Add(frame);
        }

        Assert.Equal(["channel.close on 1", "queue.delete-ok on 2"], frames.Select(f => $"{Name(f)} on {f.Channel}").Order());
        Assert.Equal((ushort)404, ChannelCloseCode(frames.Single(f => f.Channel == Channel)));
    }

    [Fact]
    public async Task Messages_unacked_when_their_queue_is_deleted_stop_counting_as_held_in_memory()
    {
        await using var broker = await InProcessBroker.StartAsync();
        if (broker.IsExternal)
        {
            return; // The memory account is the in-process broker's.
        }

        var memory = broker.Server.Broker.Memory;
        await using var connection = await broker.Factory().CreateConnectionAsync();
        await using var channel = await connection.CreateChannelAsync();

        // Deleted by another channel while the consumer holds them unacked, then the consumer's channel closes.
        var deleted = await channel.DeclareQueueAsync("deleted-unacked");
        await ConsumeUnackedAsync(connection, channel, deleted, async (consuming, _) =>
        {
            await channel.QueueDeleteAsync(deleted);
            await consuming.CloseAsync();
        });

        // An auto-delete queue that goes when its consumer cancels with deliveries unacked.
        var autoDelete = (await channel.QueueDeclareAsync(BrokerKit.Unique("auto-delete-unacked"), durable: false, exclusive: false, autoDelete: true)).QueueName;
        await ConsumeUnackedAsync(connection, channel, autoDelete, async (consuming, tag) =>
        {
            await consuming.BasicCancelAsync(tag);
            await consuming.CloseAsync();
        });

        Assert.False(await connection.QueueExistsAsync(deleted));
        Assert.False(await connection.QueueExistsAsync(autoDelete));
        await BrokerKit.EventuallyAsync(() => Task.FromResult(memory.HeldBytes == 0), "no body bytes held once both queues are gone");
    }

    private static async Task ConsumeUnackedAsync(IConnection connection, IChannel channel, string queue, Func<IChannel, string, Task> end)
    {
        for (int i = 0; i < 3; i++)
        {
            await channel.PublishAsync("", queue, new string('x', 100));
        }

        await using var consuming = await connection.CreateChannelAsync();
        var consumer = new ProbeConsumer(consuming);
        string tag = await consuming.BasicConsumeAsync(queue, autoAck: false, consumer);
        await consumer.NextAsync(3);
        await end(consuming, tag);
    }

    private static async Task<RawAmqpSocket> OpenAsync(InProcessBroker broker)
    {
        Assert.True(IPAddress.TryParse(broker.Host, out var address) && IPAddress.IsLoopback(address), $"raw-socket tests need a loopback broker, not {broker.Host}");
        var socket = await RawAmqpSocket.ConnectAsync(broker.Port);
        await socket.HandshakeAsync();
        await socket.SendMethodAsync(Channel, new ChannelOpen(ShortString.Empty));
        await socket.ExpectMethodAsync(AmqpMethodId.ChannelOpenOk);
        return socket;
    }

    private static async Task<RawFrame> NextAsync(RawAmqpSocket socket) =>
        await TryNextAsync(socket, BrokerKit.Wait) ?? throw new TimeoutException($"nothing from the broker within {BrokerKit.Wait.TotalSeconds} s");

    /// <summary>The next frame, or null when none comes within <paramref name="wait"/> (the socket is not read after that).</summary>
    private static async Task<RawFrame?> TryNextAsync(RawAmqpSocket socket, TimeSpan wait)
    {
        try
        {
            return await socket.ReadFrameAsync(wait) ?? throw new InvalidOperationException("the broker closed the socket");
        }
        catch (OperationCanceledException)
        {
            return null;
        }
    }

    private static string Name(RawFrame frame) => frame.Type == FrameType.Method ? AmqpMethodInfo.Name(frame.MethodId) : $"a {frame.Type} frame";

    private static ushort ChannelCloseCode(RawFrame frame)
    {
        Assert.True(ChannelClose.TryDecodeArguments(frame.Arguments, out var close, out var error), error.ToString());
        return close.ReplyCode;
    }
}
