using Holdfast.Conformance.Tests.Durability;
using Holdfast.Storage;
using Holdfast.Testing;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;

namespace Holdfast.Conformance.Tests.Alarms;

/// <summary>Under a resource alarm publishers are blocked (connection.blocked), never dropped, and go on once it clears.</summary>
public sealed class ResourceAlarmTests
{
    [Fact]
    public async Task A_disk_alarm_blocks_publishers_and_everything_they_sent_arrives_after_it_clears()
    {
        using var directory = new TempDirectory("holdfast-alarms");
        long freeBytes = long.MaxValue;
        await using var broker = await DurableBroker.StartAsync(
            new StoreOptions { Directory = directory.Path, SegmentSizeBytes = 1 << 20, DefaultFlushPolicy = FlushPolicy.Async },
            options => options with { DiskFreeProbe = () => Interlocked.Read(ref freeBytes) });

        await using var connection = await broker.Factory().CreateConnectionAsync();
        await using var channel = await connection.CreateChannelAsync(new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true));
        await channel.QueueDeclareAsync("held", durable: true, exclusive: false, autoDelete: false);
        await channel.BasicPublishAsync(string.Empty, "held", true, new BasicProperties { Persistent = true }, "before"u8.ToArray());

        var blocked = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        var unblocked = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        connection.ConnectionBlockedAsync += (_, e) => { blocked.TrySetResult(e.Reason); return Task.CompletedTask; };
        connection.ConnectionUnblockedAsync += (_, _) => { unblocked.TrySetResult(); return Task.CompletedTask; };

        Interlocked.Exchange(ref freeBytes, 1024);
        broker.Server.Alarms!.Check();
        Assert.Equal("low on disk space", await blocked.Task.WaitAsync(TimeSpan.FromSeconds(10)));

        var during = channel.BasicPublishAsync(string.Empty, "held", true, new BasicProperties { Persistent = true }, "during"u8.ToArray()).AsTask();
        await Task.Delay(300);
        Assert.False(during.IsCompleted, "a publish was confirmed while the disk alarm was raised");

        Interlocked.Exchange(ref freeBytes, long.MaxValue);
        broker.Server.Alarms.Check();
        await unblocked.Task.WaitAsync(TimeSpan.FromSeconds(10));
        await during.WaitAsync(TimeSpan.FromSeconds(10));

        var first = await channel.BasicGetAsync("held", autoAck: true);
        var second = await channel.BasicGetAsync("held", autoAck: true);
        Assert.Equal("before"u8.ToArray(), first!.Body.ToArray());
        Assert.Equal("during"u8.ToArray(), second!.Body.ToArray());
    }

    [Fact]
    public async Task A_memory_alarm_blocks_publishers_holds_their_messages_and_everything_they_sent_arrives_after_it_clears()
    {
        await using var alarmed = await MemoryAlarmBroker.StartAsync();
        var broker = alarmed.Broker;
        await using var connection = await broker.Factory().CreateConnectionAsync();
        await using var channel = await connection.CreateChannelAsync(new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true));
        await channel.QueueDeclareAsync("held-in-memory", durable: true, exclusive: false, autoDelete: false);
        await channel.BasicPublishAsync(string.Empty, "held-in-memory", true, new BasicProperties { Persistent = true }, "before"u8.ToArray());

        // A second connection that never publishes, so it is never blocked, looks at the queue meanwhile.
        await using var observer = await broker.Factory().CreateConnectionAsync();
        await using var looking = await observer.CreateChannelAsync();

        var blocked = MemoryAlarmBroker.NextBlockedAsync(connection);
        var unblocked = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        connection.ConnectionUnblockedAsync += (_, _) => { unblocked.TrySetResult(); return Task.CompletedTask; };

        alarmed.Raise();
        Assert.Equal("low on memory", await blocked.WaitAsync(TimeSpan.FromSeconds(10)));

        var during = new List<Task>();
        for (int i = 0; i < 3; i++)
        {
            during.Add(channel.BasicPublishAsync(string.Empty, "held-in-memory", true, new BasicProperties { Persistent = true }, BitConverter.GetBytes(i)).AsTask());
        }

        await Task.Delay(300);
        Assert.False(during.Any(p => p.IsCompleted), "a publish was confirmed while the memory alarm was raised");
        Assert.Equal(1u, (await looking.QueueDeclarePassiveAsync("held-in-memory")).MessageCount);

        alarmed.Clear();
        await unblocked.Task.WaitAsync(TimeSpan.FromSeconds(10));
        await Task.WhenAll(during).WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Equal("before"u8.ToArray(), (await channel.BasicGetAsync("held-in-memory", autoAck: true))!.Body.ToArray());
        for (int i = 0; i < 3; i++)
        {
            var got = await channel.BasicGetAsync("held-in-memory", autoAck: true);
            Assert.Equal(BitConverter.GetBytes(i), got!.Body.ToArray());
        }

        Assert.Null(await channel.BasicGetAsync("held-in-memory", autoAck: true));
    }
}
