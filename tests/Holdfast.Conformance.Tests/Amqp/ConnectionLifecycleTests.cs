using System.Text;
using Holdfast.Conformance.Tests.Support;
using Holdfast.Testing;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;

namespace Holdfast.Conformance.Tests.Amqp;

public sealed class ConnectionLifecycleTests
{
    [Fact]
    public async Task The_real_client_connects_sees_rabbitmq_style_server_properties_and_closes()
    {
        await using var broker = await InProcessBroker.StartAsync();
        await using var connection = await broker.Factory().CreateConnectionAsync();

        Assert.True(connection.IsOpen);
        Assert.Equal("Holdfast", Encoding.UTF8.GetString((byte[])connection.ServerProperties!["product"]!));
        var capabilities = (IDictionary<string, object?>)connection.ServerProperties["capabilities"]!;
        foreach (var name in new[] { "publisher_confirms", "exchange_exchange_bindings", "basic.nack", "consumer_cancel_notify", "connection.blocked", "authentication_failure_close", "per_consumer_qos", "direct_reply_to" })
        {
            Assert.True(capabilities.TryGetValue(name, out var value) && value is true, name);
        }

        Assert.Equal((ushort)2047, connection.ChannelMax);
        Assert.Equal(131072u, connection.FrameMax);

        await connection.CloseAsync();
        Assert.False(connection.IsOpen);
        Assert.Equal(200, connection.CloseReason!.ReplyCode);
    }

    [Fact]
    public async Task A_hundred_channels_open_and_close_on_one_connection()
    {
        await using var broker = await InProcessBroker.StartAsync();
        await using var connection = await broker.Factory().CreateConnectionAsync();

        var channels = new List<IChannel>();
        for (int i = 0; i < 100; i++)
        {
            channels.Add(await connection.CreateChannelAsync());
        }

        Assert.Equal(100, channels.Select(c => c.ChannelNumber).Distinct().Count());
        Assert.All(channels, c => Assert.True(c.IsOpen));
        foreach (var channel in channels)
        {
            await channel.CloseAsync();
            await channel.DisposeAsync();
        }

        // The numbers are free again, and the connection is unharmed.
        await using var again = await connection.CreateChannelAsync();
        Assert.True(again.IsOpen);
        Assert.True(connection.IsOpen);
    }

    [Fact]
    public async Task A_lower_channel_max_and_frame_max_asked_by_the_client_are_honoured()
    {
        await using var broker = await InProcessBroker.StartAsync();
        var factory = broker.Factory();
        factory.RequestedChannelMax = 10;
        factory.RequestedFrameMax = 8192;
        await using var connection = await factory.CreateConnectionAsync();

        Assert.Equal((ushort)10, connection.ChannelMax);
        Assert.Equal(8192u, connection.FrameMax);
        await connection.CloseAsync();
    }

    [Fact]
    public async Task A_client_that_asks_zero_for_every_tune_value_gets_the_server_defaults_2047_channels_128_KiB_frames_and_a_60_s_heartbeat()
    {
        await using var broker = await InProcessBroker.StartAsync();
        var factory = broker.Factory();

        // Zero means "no limit of my own": the client takes the server's connection.tune values as they are.
        // (The client's own default heartbeat request is also 60 s, so it would not tell ours from its.)
        factory.RequestedChannelMax = 0;
        factory.RequestedFrameMax = 0;
        factory.RequestedHeartbeat = TimeSpan.Zero;
        await using var connection = await factory.CreateConnectionAsync();

        Assert.Equal((ushort)2047, connection.ChannelMax);
        Assert.Equal(131072u, connection.FrameMax);
        Assert.Equal(TimeSpan.FromSeconds(60), connection.Heartbeat);
        await connection.CloseAsync();
    }

    [Fact]
    public async Task An_unknown_virtual_host_is_refused_with_530()
    {
        await using var broker = await InProcessBroker.StartAsync();

        // RabbitMQ.Client 7 does not always fail CreateConnectionAsync on a close in place of
        // open-ok (it did not here, against RabbitMQ's own behaviour too): it may hand back a
        // connection that is already shutting down. Either way the reason must be our 530.
        ShutdownEventArgs? reason;
        try
        {
            var connection = await broker.Factory(virtualHost: "nowhere").CreateConnectionAsync();
            await using (connection)
            {
                await Eventually.TrueAsync(() => !connection.IsOpen, TimeSpan.FromSeconds(5), "connection closed by the server");
                reason = connection.CloseReason;
            }
        }
        catch (Exception failure)
        {
            var interrupted = Exceptions.Find<RabbitMQ.Client.Exceptions.OperationInterruptedException>(failure);
            Assert.True(interrupted is not null, failure.ToString());
            reason = interrupted.ShutdownReason;
        }

        Assert.NotNull(reason);
        Assert.Equal(530, reason.ReplyCode);
        Assert.Equal("NOT_ALLOWED - vhost nowhere not found", reason.ReplyText);
        Assert.Equal(ShutdownInitiator.Peer, reason.Initiator);
    }
}
