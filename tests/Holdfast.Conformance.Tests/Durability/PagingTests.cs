using Holdfast.Storage;
using Holdfast.Testing;
using RabbitMQ.Client;

namespace Holdfast.Conformance.Tests.Durability;

/// <summary>Under memory pressure queues page messages to the store instead of holding (or dropping) them.</summary>
public sealed class PagingTests
{
    private const int MessageCount = 400;
    private const int BodyBytes = 16 * 1024;

    [Fact]
    public async Task Transient_messages_beyond_the_memory_budget_are_paged_to_disk_and_all_come_back_in_order()
    {
        using var directory = new TempDirectory("holdfast-paging");
        await using var broker = await DurableBroker.StartAsync(
            new StoreOptions { Directory = directory.Path, SegmentSizeBytes = 8 << 20, DefaultFlushPolicy = FlushPolicy.Async },
            options => options with { PagingThresholdBytes = 512 * 1024 });
        var memory = broker.Server.Broker.Memory;

        await using var connection = await broker.Factory().CreateConnectionAsync();
        await using var channel = await connection.CreateChannelAsync(new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true));
        await channel.QueueDeclareAsync("bulk", durable: false, exclusive: false, autoDelete: false);
        for (var i = 0; i < MessageCount; i++)
        {
            await channel.BasicPublishAsync(string.Empty, "bulk", mandatory: true, new BasicProperties { MessageId = i.ToString(System.Globalization.CultureInfo.InvariantCulture) }, Body(i));
        }

        // 6.4 MB went in; the queue holds about the 512 KiB budget in memory and the rest went to a page index.
        await Eventually.TrueAsync(() => memory.HeldBytes <= 640 * 1024, TimeSpan.FromSeconds(10), $"bodies leaving memory once written (held: {memory.HeldBytes} bytes)");
        Assert.Contains(broker.Server.Store.Queues, q => q.Name.StartsWith("~page/", StringComparison.Ordinal) && q.MessageCount > MessageCount / 2);

        for (var i = 0; i < MessageCount; i++)
        {
            var got = await channel.BasicGetAsync("bulk", autoAck: false);
            Assert.NotNull(got);
            Assert.Equal(i.ToString(System.Globalization.CultureInfo.InvariantCulture), got!.BasicProperties.MessageId);
            Assert.True(Body(i).AsSpan().SequenceEqual(got.Body.Span), $"message {i} came back different");
            await channel.BasicAckAsync(got.DeliveryTag, multiple: false);
        }

        Assert.Null(await channel.BasicGetAsync("bulk", autoAck: true));
        await Eventually.TrueAsync(() => memory.HeldBytes == 0, TimeSpan.FromSeconds(5), "acked bodies no longer counted");
    }

    [Fact]
    public async Task Paged_transient_messages_do_not_survive_a_restart_and_their_index_is_removed()
    {
        using var directory = new TempDirectory("holdfast-paging");
        await using var broker = await DurableBroker.StartAsync(
            new StoreOptions { Directory = directory.Path, SegmentSizeBytes = 8 << 20 },
            options => options with { PagingThresholdBytes = 64 * 1024 });
        await using (var connection = await broker.Factory().CreateConnectionAsync())
        await using (var channel = await connection.CreateChannelAsync(new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true)))
        {
            await channel.QueueDeclareAsync("mixed", durable: true, exclusive: false, autoDelete: false);
            for (var i = 0; i < 40; i++)
            {
                // Even: persistent (kept); odd: transient (paged, then gone after the restart, as RabbitMQ drops them).
                await channel.BasicPublishAsync(string.Empty, "mixed", mandatory: true, new BasicProperties { Persistent = i % 2 == 0, MessageId = $"m{i}" }, Body(i));
            }
        }

        await broker.RestartAsync();
        Assert.DoesNotContain(broker.Server.Store.Queues, q => q.Name.StartsWith("~page/", StringComparison.Ordinal) && !q.IsDeleted);
        await using var after = await broker.Factory().CreateConnectionAsync();
        await using var check = await after.CreateChannelAsync();
        var ids = new List<string>();
        while (await check.BasicGetAsync("mixed", autoAck: true) is { } got)
        {
            ids.Add(got.BasicProperties.MessageId!);
        }

        Assert.Equal(Enumerable.Range(0, 20).Select(i => $"m{i * 2}"), ids);
    }

    private static byte[] Body(int i)
    {
        var body = new byte[BodyBytes];
        new Random(i).NextBytes(body);
        return body;
    }
}
