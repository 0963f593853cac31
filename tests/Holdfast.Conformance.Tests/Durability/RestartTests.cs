using System.Text;
using Holdfast.Storage;
using Holdfast.Testing;
using RabbitMQ.Client;

namespace Holdfast.Conformance.Tests.Durability;

/// <summary>What survives a restart: durable topology and persistent messages; nothing transient.</summary>
public sealed class RestartTests
{
    [Fact]
    public async Task Durable_topology_and_unacked_persistent_messages_survive_a_restart_and_transient_ones_do_not()
    {
        using var directory = new TempDirectory("holdfast-restart");
        await using var broker = await DurableBroker.StartAsync(new StoreOptions { Directory = directory.Path, SegmentSizeBytes = 1 << 20 });
        await using (var connection = await broker.Factory().CreateConnectionAsync())
        await using (var channel = await connection.CreateChannelAsync(new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true)))
        {
            await channel.ExchangeDeclareAsync("billing", ExchangeType.Topic, durable: true);
            await channel.ExchangeDeclareAsync("scratch-x", ExchangeType.Fanout, durable: false);
            await channel.QueueDeclareAsync("invoices", durable: true, exclusive: false, autoDelete: false);
            await channel.QueueDeclareAsync("scratch-q", durable: false, exclusive: false, autoDelete: false);
            await channel.QueueBindAsync("invoices", "billing", "invoice.#");
            for (var i = 0; i < 10; i++)
            {
                await channel.BasicPublishAsync("billing", "invoice.created", mandatory: true, new BasicProperties { Persistent = true, MessageId = $"p{i}" }, Encoding.UTF8.GetBytes($"persistent {i}"));
            }

            await channel.BasicPublishAsync("billing", "invoice.created", mandatory: true, new BasicProperties { Persistent = false, MessageId = "t" }, "transient"u8.ToArray());

            // Ack the first three, leave the fourth delivered but unacked: it must come back.
            for (var i = 0; i < 3; i++)
            {
                var got = await channel.BasicGetAsync("invoices", autoAck: false);
                Assert.NotNull(got);
                await channel.BasicAckAsync(got!.DeliveryTag, multiple: false);
            }

            Assert.NotNull(await channel.BasicGetAsync("invoices", autoAck: false));
        }

        await broker.RestartAsync();

        await using var after = await broker.Factory().CreateConnectionAsync();
        await using var check = await after.CreateChannelAsync();
        var declared = await check.QueueDeclarePassiveAsync("invoices");
        Assert.Equal(7u, declared.MessageCount);
        var ids = new List<string>();
        while (await check.BasicGetAsync("invoices", autoAck: true) is { } message)
        {
            ids.Add(message.BasicProperties.MessageId!);
            Assert.Equal($"persistent {message.BasicProperties.MessageId![1..]}", Encoding.UTF8.GetString(message.Body.Span));
        }

        Assert.Equal(["p3", "p4", "p5", "p6", "p7", "p8", "p9"], ids);

        // The binding came back with the queue and the exchange.
        await check.BasicPublishAsync("billing", "invoice.paid", mandatory: true, new BasicProperties { Persistent = true }, "again"u8.ToArray());
        var routed = await check.BasicGetAsync("invoices", autoAck: true);
        Assert.Equal("again", Encoding.UTF8.GetString(routed!.Body.Span));

        // Transient topology is gone.
        var missing = await Assert.ThrowsAnyAsync<Exception>(() => check.QueueDeclarePassiveAsync("scratch-q"));
        Assert.Contains("404", missing.Message + missing.InnerException?.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_deleted_durable_queue_stays_deleted_after_a_restart()
    {
        using var directory = new TempDirectory("holdfast-restart");
        await using var broker = await DurableBroker.StartAsync(new StoreOptions { Directory = directory.Path, SegmentSizeBytes = 1 << 20 });
        await using (var connection = await broker.Factory().CreateConnectionAsync())
        await using (var channel = await connection.CreateChannelAsync())
        {
            await channel.QueueDeclareAsync("short-lived", durable: true, exclusive: false, autoDelete: false);
            await channel.QueueBindAsync("short-lived", "amq.direct", "k");
            await channel.QueueDeleteAsync("short-lived");
        }

        await broker.RestartAsync();
        await using var after = await broker.Factory().CreateConnectionAsync();
        await using var check = await after.CreateChannelAsync();
        await Assert.ThrowsAnyAsync<Exception>(() => check.QueueDeclarePassiveAsync("short-lived"));
        Assert.DoesNotContain(broker.Server.Store.Queues, q => !q.IsDeleted);
    }
}
