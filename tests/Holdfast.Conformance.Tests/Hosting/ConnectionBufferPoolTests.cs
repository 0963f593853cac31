using Holdfast.Conformance.Tests.Support;
using Holdfast.Hosting;
using RabbitMQ.Client;

namespace Holdfast.Conformance.Tests.Hosting;

/// <summary>
/// Kestrel's connections receive into and send from the broker's 64 KiB blocks, not Kestrel's 4 KiB ones (a large
/// message then takes a couple of socket reads instead of dozens), and the pool hands out and takes back blocks
/// as a pool must: whole blocks, each returned once however often it is disposed.
/// </summary>
public sealed class ConnectionBufferPoolTests
{
    [Fact]
    public async Task The_broker_connections_use_the_large_block_pool_and_a_64_KiB_message_arrives_whole()
    {
        await using var broker = await InProcessBroker.StartAsync();
        if (broker.IsExternal)
        {
            return;
        }

        var before = broker.Server.ConnectionBuffers.Rented;
        var body = new byte[64 * 1024];
        Random.Shared.NextBytes(body);
        await using var connection = await broker.Factory().CreateConnectionAsync();
        await using var channel = await connection.CreateChannelAsync(new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true));
        var queue = (await channel.QueueDeclareAsync(string.Empty, durable: true, exclusive: true, autoDelete: false)).QueueName;
        await channel.BasicPublishAsync(string.Empty, queue, mandatory: true, new BasicProperties { Persistent = true }, body);
        var got = await channel.BasicGetAsync(queue, autoAck: true);

        Assert.Equal(body, got!.Body.ToArray());
        Assert.True(broker.Server.ConnectionBuffers.Rented > before, "Kestrel took no block from the broker's pool");
    }

    [Theory]
    [InlineData(-1)]
    [InlineData(1)]
    [InlineData(4096)]
    [InlineData(ConnectionBufferPool.BlockSize)]
    public void Every_rent_is_a_whole_block(int minimum)
    {
        using var pool = new ConnectionBufferPool();
        using var block = pool.Rent(minimum);

        Assert.Equal(ConnectionBufferPool.BlockSize, block.Memory.Length);
        Assert.Equal(ConnectionBufferPool.BlockSize, pool.MaxBufferSize);
    }

    [Fact]
    public void More_than_a_block_is_refused()
    {
        using var pool = new ConnectionBufferPool();

        Assert.Throws<ArgumentOutOfRangeException>(() => pool.Rent(ConnectionBufferPool.BlockSize + 1));
    }

    [Fact]
    public void A_block_disposed_twice_goes_back_once()
    {
        using var pool = new ConnectionBufferPool();
        var block = pool.Rent();
        block.Dispose();
        block.Dispose();

        using var first = pool.Rent();
        using var second = pool.Rent();

        Assert.Same(block, first); // the returned block is reused...
        Assert.NotSame(first, second); // ...by one renter only: two renters sharing a block would mix connections' bytes
    }
}
