using System.Collections.Concurrent;
using Holdfast.Storage;
using Holdfast.Testing;
using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;

namespace Holdfast.Conformance.Tests.Durability;

/// <summary>A publisher confirm means "on disk": with fsync held, no ack may reach the client.</summary>
public sealed class ConfirmAfterFlushTests
{
    [Fact]
    public async Task A_persistent_message_in_a_durable_queue_is_confirmed_only_after_its_fsync_returns()
    {
        var device = new FaultyDevice();
        await using var broker = await DurableBroker.StartAsync(new StoreOptions { Device = device, DefaultFlushPolicy = FlushPolicy.Sync, SegmentSizeBytes = 1 << 20 });
        await using var connection = await broker.Factory().CreateConnectionAsync();
        await using var channel = await connection.CreateChannelAsync(new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true));
        await channel.QueueDeclareAsync("orders", durable: true, exclusive: false, autoDelete: false);

        var stall = device.StallNextFsync();
        var publish = channel.BasicPublishAsync(string.Empty, "orders", mandatory: true, new BasicProperties { Persistent = true }, "order-1"u8.ToArray()).AsTask();
        await stall.WaitUntilHeldAsync();

        // The fsync covering the message is held: the broker has the message but must not confirm it.
        await Task.Delay(300);
        Assert.False(publish.IsCompleted, "the confirm arrived while the fsync covering the message was still running");

        stall.Release();
        await publish.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.True(publish.IsCompletedSuccessfully);
    }

    [Fact]
    public async Task A_transient_message_is_confirmed_without_waiting_for_any_fsync()
    {
        var device = new FaultyDevice();
        await using var broker = await DurableBroker.StartAsync(new StoreOptions { Device = device, DefaultFlushPolicy = FlushPolicy.Sync, SegmentSizeBytes = 1 << 20 });
        await using var connection = await broker.Factory().CreateConnectionAsync();
        await using var channel = await connection.CreateChannelAsync(new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true));
        await channel.QueueDeclareAsync("scratch", durable: false, exclusive: false, autoDelete: false);

        var stall = device.StallNextFsync();
        try
        {
            // Nothing is stored for a transient message in a transient queue, so nothing waits on the held fsync.
            await channel.BasicPublishAsync(string.Empty, "scratch", mandatory: true, new BasicProperties(), "note"u8.ToArray())
                .AsTask().WaitAsync(TimeSpan.FromSeconds(10));
            Assert.False(stall.WasHeld);
        }
        finally
        {
            stall.Release();
        }
    }

    [Fact]
    public async Task A_message_the_store_cannot_write_is_nacked_never_acked()
    {
        var device = new FaultyDevice();
        await using var broker = await DurableBroker.StartAsync(new StoreOptions { Device = device, DefaultFlushPolicy = FlushPolicy.Sync, SegmentSizeBytes = 1 << 20 });
        await using var connection = await broker.Factory().CreateConnectionAsync();
        await using var channel = await connection.CreateChannelAsync(new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true));
        await channel.QueueDeclareAsync("ledger", durable: true, exclusive: false, autoDelete: false);

        device.FailNextFsync();
        var failure = await Assert.ThrowsAsync<PublishException>(async () =>
            await channel.BasicPublishAsync(string.Empty, "ledger", mandatory: true, new BasicProperties { Persistent = true }, "entry"u8.ToArray())
                .AsTask().WaitAsync(TimeSpan.FromSeconds(10)));

        // A nack, not a return: the message was routed, and refused because it could not be stored.
        Assert.False(failure.IsReturn);
    }

    [Fact]
    public async Task Publishes_made_durable_by_one_fsync_are_confirmed_together_with_a_multiple_ack()
    {
        const int Publishes = 10;
        var device = new FaultyDevice();
        await using var broker = await DurableBroker.StartAsync(new StoreOptions { Device = device, DefaultFlushPolicy = FlushPolicy.Sync, SegmentSizeBytes = 1 << 20 });
        await using var connection = await broker.Factory().CreateConnectionAsync();

        // Confirms on, tracking off: the client raises BasicAcksAsync for each basic.ack as it arrives instead of folding them into the publishes.
        await using var channel = await connection.CreateChannelAsync(new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: false));
        await channel.QueueDeclareAsync("batched", durable: true, exclusive: false, autoDelete: false);
        var acks = new ConcurrentQueue<(ulong DeliveryTag, bool Multiple)>();
        int nacks = 0;
        channel.BasicAcksAsync += (_, e) => { acks.Enqueue((e.DeliveryTag, e.Multiple)); return Task.CompletedTask; };
        channel.BasicNacksAsync += (_, _) => { Interlocked.Increment(ref nacks); return Task.CompletedTask; };

        // The first publish's fsync is held; the others arrive meanwhile and wait for the next group commit.
        var stall = device.StallNextFsync();
        await channel.BasicPublishAsync(string.Empty, "batched", mandatory: true, new BasicProperties { Persistent = true }, BitConverter.GetBytes(1));
        await stall.WaitUntilHeldAsync();
        for (int i = 2; i <= Publishes; i++)
        {
            await channel.BasicPublishAsync(string.Empty, "batched", mandatory: true, new BasicProperties { Persistent = true }, BitConverter.GetBytes(i));
        }

        // basic.qos-ok comes back only after the broker has taken every publish sent before it on this channel.
        await channel.BasicQosAsync(0, 1, false);
        Assert.Empty(acks);

        stall.Release();
        await Eventually.TrueAsync(() => Covered(acks).Count == Publishes, TimeSpan.FromSeconds(10), $"acks covering all {Publishes} publishes");

        var received = acks.ToArray();
        Assert.True(received.Any(a => a.Multiple), $"no multiple=true ack among {string.Join(", ", received)}");
        Assert.Equal(Enumerable.Range(1, Publishes).Select(i => (ulong)i), Covered(acks).Order());
        Assert.Equal(0, Volatile.Read(ref nacks));
        Assert.Equal((uint)Publishes, (await channel.QueueDeclarePassiveAsync("batched")).MessageCount);
    }

    /// <summary>The delivery tags the acks so far confirm: a multiple ack covers every tag up to its own.</summary>
    private static HashSet<ulong> Covered(IEnumerable<(ulong DeliveryTag, bool Multiple)> acks)
    {
        var covered = new HashSet<ulong>();
        foreach (var (tag, multiple) in acks)
        {
            for (ulong t = multiple ? 1 : tag; t <= tag; t++)
            {
                covered.Add(t);
            }
        }

        return covered;
    }
}
