using Holdfast.Conformance.Tests.Broker;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;

namespace Holdfast.Conformance.Tests.Semantics;

/// <summary>
/// An x-expires far in the future (here ~115 days, past the ~49 days a timer can reach) is a valid lease.
/// Found by the frame fuzzer: arming it threw, from the declare and from a consumer's cancel at channel
/// close, and the throw at close stranded the channel's unacked deliveries on other queues for good.
/// A message's expiration as far as a long reaches is as valid, and must not wrap round into the past.
/// </summary>
public sealed class FarQueueExpiryTests
{
    private const long FarExpiresMs = 10_000_000_000;

    [Fact]
    public async Task Closing_a_channel_that_consumes_a_queue_with_a_far_expiry_requeues_its_other_deliveries()
    {
        await using var scope = await SemanticsScope.StartAsync();
        var leased = BrokerKit.Unique("far-expires");
        var plain = BrokerKit.Unique("plain");

        await using (var setup = await scope.Connection.CreateChannelAsync())
        {
            await setup.QueueDeclareAsync(leased, durable: false, exclusive: false, autoDelete: false, arguments: SemanticsScope.Arguments(("x-expires", FarExpiresMs)));
            await setup.QueueDeclareAsync(plain, durable: false, exclusive: false, autoDelete: false);
            await setup.BasicPublishAsync(string.Empty, plain, "held"u8.ToArray());
        }

        await BrokerKit.EventuallyAsync(async () => await scope.ReadyAsync(plain) == 1, "the message is ready");

        var channel = await scope.Connection.CreateChannelAsync();
        var got = await channel.BasicGetAsync(plain, autoAck: false);
        Assert.NotNull(got);
        await channel.BasicConsumeAsync(leased, autoAck: false, new AsyncEventingBasicConsumer(channel));
        await channel.CloseAsync();
        await channel.DisposeAsync();

        // The message got from the plain queue, never acked, is ready again.
        await BrokerKit.EventuallyAsync(async () => await scope.ReadyAsync(plain) == 1, "the unacked message went back to its queue");
        Assert.True(await scope.Connection.QueueExistsAsync(leased));

        await using var cleanup = await scope.Connection.CreateChannelAsync();
        await cleanup.QueueDeleteAsync(leased);
        await cleanup.QueueDeleteAsync(plain);
    }

    [Fact]
    public async Task A_message_whose_expiration_is_the_largest_long_does_not_expire()
    {
        await using var scope = await SemanticsScope.StartAsync();
        var queue = BrokerKit.Unique("far-ttl");
        await using var channel = await scope.Connection.CreateChannelAsync();
        await channel.QueueDeclareAsync(queue, durable: false, exclusive: false, autoDelete: false);
        var properties = new BasicProperties { Expiration = long.MaxValue.ToString(System.Globalization.CultureInfo.InvariantCulture) };
        await channel.BasicPublishAsync(string.Empty, queue, mandatory: false, properties, "kept"u8.ToArray());

        await BrokerKit.EventuallyAsync(async () => await scope.ReadyAsync(queue) == 1, "the message is ready");
        var got = await channel.BasicGetAsync(queue, autoAck: true);
        Assert.NotNull(got);
        Assert.Equal("kept", BrokerKit.Text(got.Body.ToArray()));
        await channel.QueueDeleteAsync(queue);
    }
}
