using Holdfast.Conformance.Tests.Support;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;
using Holdfast.Testing;

namespace Holdfast.Conformance.Tests.Amqp;

public sealed class ShutdownTests
{
    [Fact]
    public async Task Stopping_the_broker_closes_client_connections_with_320_connection_forced()
    {
        var broker = await InProcessBroker.StartAsync();
        try
        {
            await using var first = await broker.Factory().CreateConnectionAsync();
            await using var second = await broker.Factory().CreateConnectionAsync();
            await using var channel = await second.CreateChannelAsync();
            var reasons = new System.Collections.Concurrent.ConcurrentBag<ShutdownEventArgs>();
            first.ConnectionShutdownAsync += (_, args) => { reasons.Add(args); return Task.CompletedTask; };
            second.ConnectionShutdownAsync += (_, args) => { reasons.Add(args); return Task.CompletedTask; };

            await broker.Server.StopAsync();

            await Eventually.TrueAsync(() => reasons.Count == 2, TimeSpan.FromSeconds(5), "both clients told of the shutdown");
            Assert.All(reasons, r =>
            {
                Assert.Equal(320, r.ReplyCode);
                Assert.Equal("CONNECTION_FORCED - broker shutdown", r.ReplyText);
                Assert.Equal(ShutdownInitiator.Peer, r.Initiator);
            });
            Assert.False(first.IsOpen);
            Assert.Equal(0, broker.Server.Amqp.ConnectionCount);
        }
        finally
        {
            await broker.DisposeAsync();
        }
    }
}
