using Holdfast.Amqp.Codec;
using Holdfast.Conformance.Tests.Support;
using Holdfast.Testing;

namespace Holdfast.Conformance.Tests.Amqp;

/// <summary>
/// Heartbeats on real time, kept to a few seconds. The idle test uses two seconds rather than one: CI
/// runs every test project at once on two cores, and a one-second heartbeat leaves a client whose
/// timer is starved for two seconds looking dead.
/// </summary>
public sealed class HeartbeatTests
{
    [Fact]
    public async Task An_idle_connection_with_a_two_second_heartbeat_stays_open()
    {
        await using var broker = await InProcessBroker.StartAsync();
        var factory = broker.Factory();
        factory.RequestedHeartbeat = TimeSpan.FromSeconds(2);
        await using var connection = await factory.CreateConnectionAsync();
        Assert.Equal(TimeSpan.FromSeconds(2), connection.Heartbeat);

        // Idle for longer than the two-heartbeat limit on both sides (4 s); heartbeats alone keep it up.
        await Task.Delay(TimeSpan.FromSeconds(5.5));

        Assert.True(connection.IsOpen, connection.CloseReason?.ToString());
        await using var channel = await connection.CreateChannelAsync();
        Assert.True(channel.IsOpen);
    }

    [Fact]
    public async Task A_peer_that_goes_silent_after_the_handshake_is_dropped_after_two_heartbeats()
    {
        await using var broker = await InProcessBroker.StartAsync();
        await using var silent = await RawAmqpSocket.ConnectAsync(broker.Port);
        await silent.HandshakeAsync(heartbeatSeconds: 1);
        await Eventually.TrueAsync(() => broker.Server.Amqp.ConnectionCount == 1, TimeSpan.FromSeconds(5), "connection registered");

        // The server sends heartbeats meanwhile, then closes the socket without ceremony.
        var received = await silent.ReadToEndAsync(TimeSpan.FromSeconds(6));

        Assert.NotEmpty(received);
        Assert.Equal((byte)FrameType.Heartbeat, received[0]);
        await Eventually.TrueAsync(() => broker.Server.Amqp.ConnectionCount == 0, TimeSpan.FromSeconds(5), "dead connection forgotten");
    }
}
