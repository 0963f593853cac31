using Holdfast.Conformance.Tests.Broker;
using Holdfast.Conformance.Tests.Support;
using RabbitMQ.Client;
using Xunit.Abstractions;

namespace Holdfast.Conformance.Tests.Robustness;

public sealed class ScratchMemoryRepro(ITestOutputHelper output)
{
    public static TheoryData<string> Cases => new() { "maxlen-drop", "maxlen-reject", "get-requeue-close", "consume-delete-while-unacked", "expiration", "ttl-queue", "tx-rollback", "tx-close", "nack-requeue", "recover", "purge-unacked", "autodelete", "exclusive-close", "dlx", "expires" };

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task Scratch_memory(string scenario)
    {
        await using var broker = await InProcessBroker.StartAsync();
        var memory = broker.Server.Broker.Memory;
        var factory = broker.Factory();
        {
            await using var connection = await factory.CreateConnectionAsync();
            await using var ch = await connection.CreateChannelAsync();
            string q = "scratch-" + scenario;
            var body = new byte[100];
            switch (scenario)
            {
                case "maxlen-drop":
                case "maxlen-reject":
                    await ch.QueueDeclareAsync(q, false, false, false, new Dictionary<string, object?> { ["x-max-length"] = 1, ["x-overflow"] = scenario == "maxlen-drop" ? "drop-head" : "reject-publish" });
                    for (int i = 0; i < 5; i++) await ch.BasicPublishAsync("", q, body);
                    break;
                case "get-requeue-close":
                    {
                        await ch.QueueDeclareAsync(q, false, false, false);
                        for (int i = 0; i < 3; i++) await ch.BasicPublishAsync("", q, body);
                        await using var c2 = await connection.CreateChannelAsync();
                        await c2.BasicGetAsync(q, false);
                        await c2.CloseAsync();
                        break;
                    }
                case "consume-delete-while-unacked":
                    {
                        await ch.QueueDeclareAsync(q, false, false, false);
                        for (int i = 0; i < 3; i++) await ch.BasicPublishAsync("", q, body);
                        await using var c2 = await connection.CreateChannelAsync();
                        var consumer = new ProbeConsumer(c2);
                        await c2.BasicConsumeAsync(q, false, consumer);
                        await consumer.NextAsync(3);
                        await ch.QueueDeleteAsync(q);
                        await c2.CloseAsync();
                        break;
                    }
                case "expiration":
                    await ch.QueueDeclareAsync(q, false, false, false);
                    for (int i = 0; i < 3; i++) await ch.BasicPublishAsync("", q, false, new BasicProperties { Expiration = "1" }, body);
                    await Task.Delay(200);
                    break;
                case "ttl-queue":
                    await ch.QueueDeclareAsync(q, false, false, false, new Dictionary<string, object?> { ["x-message-ttl"] = 1 });
                    for (int i = 0; i < 3; i++) await ch.BasicPublishAsync("", q, body);
                    await Task.Delay(200);
                    break;
                case "tx-rollback":
                case "tx-close":
                    {
                        await ch.QueueDeclareAsync(q, false, false, false);
                        for (int i = 0; i < 3; i++) await ch.BasicPublishAsync("", q, body);
                        await using var c2 = await connection.CreateChannelAsync();
                        await c2.TxSelectAsync();
                        var got = await c2.BasicGetAsync(q, false);
                        await c2.BasicAckAsync(got!.DeliveryTag, false);
                        await c2.BasicPublishAsync("", q, body);
                        if (scenario == "tx-rollback") await c2.TxRollbackAsync();
                        await c2.CloseAsync();
                        break;
                    }
                case "nack-requeue":
                    {
                        await ch.QueueDeclareAsync(q, false, false, false);
                        for (int i = 0; i < 3; i++) await ch.BasicPublishAsync("", q, body);
                        var got = await ch.BasicGetAsync(q, false);
                        await ch.BasicNackAsync(got!.DeliveryTag, false, true);
                        got = await ch.BasicGetAsync(q, false);
                        await ch.BasicRejectAsync(got!.DeliveryTag, false);
                        break;
                    }
                case "recover":
                    {
                        await ch.QueueDeclareAsync(q, false, false, false);
                        for (int i = 0; i < 3; i++) await ch.BasicPublishAsync("", q, body);
                        await ch.BasicGetAsync(q, false);
                        await ch.BasicGetAsync(q, false);
                        await ch.CloseAsync();
                        break;
                    }
                case "purge-unacked":
                    {
                        await ch.QueueDeclareAsync(q, false, false, false);
                        for (int i = 0; i < 3; i++) await ch.BasicPublishAsync("", q, body);
                        await using var c2 = await connection.CreateChannelAsync();
                        await c2.BasicGetAsync(q, false);
                        await ch.QueuePurgeAsync(q);
                        await c2.CloseAsync();
                        break;
                    }
                case "autodelete":
                    {
                        await ch.QueueDeclareAsync(q, false, false, true);
                        for (int i = 0; i < 3; i++) await ch.BasicPublishAsync("", q, body);
                        await using var c2 = await connection.CreateChannelAsync();
                        var consumer = new ProbeConsumer(c2);
                        var tag = await c2.BasicConsumeAsync(q, false, consumer);
                        await consumer.NextAsync(3);
                        await c2.BasicCancelAsync(tag);
                        await c2.CloseAsync();
                        break;
                    }
                case "exclusive-close":
                    {
                        await using var other = await factory.CreateConnectionAsync();
                        await using var c2 = await other.CreateChannelAsync();
                        await c2.QueueDeclareAsync(q, false, true, false);
                        for (int i = 0; i < 3; i++) await c2.BasicPublishAsync("", q, body);
                        await c2.BasicGetAsync(q, false);
                        await other.CloseAsync();
                        break;
                    }
                case "dlx":
                    await ch.QueueDeclareAsync(q + "-dead", false, false, false);
                    await ch.QueueDeclareAsync(q, false, false, false, new Dictionary<string, object?> { ["x-dead-letter-exchange"] = "", ["x-dead-letter-routing-key"] = q + "-dead", ["x-max-length"] = 1 });
                    for (int i = 0; i < 3; i++) await ch.BasicPublishAsync("", q, body);
                    {
                        var got = await ch.BasicGetAsync(q, false);
                        await ch.BasicRejectAsync(got!.DeliveryTag, false);
                    }

                    break;
                case "expires":
                    await ch.QueueDeclareAsync(q, false, false, false, new Dictionary<string, object?> { ["x-expires"] = 100 });
                    for (int i = 0; i < 3; i++) await ch.BasicPublishAsync("", q, body);
                    await Task.Delay(400);
                    break;
            }

            await Task.Delay(100);
            await using var cleaner = await connection.CreateChannelAsync();
            foreach (var name in broker.Server.Broker.GetVirtualHost("/").Queues.Select(x => x.Name).ToList())
            {
                await cleaner.QueueDeleteAsync(name);
            }

            await connection.CloseAsync();
        }

        await Task.Delay(300);
        output.WriteLine($"{scenario}: held {memory.HeldBytes}, queues left {broker.Server.Broker.GetVirtualHost("/").Queues.Count}");
        Assert.Equal(0, memory.HeldBytes);
    }
}
