using System.Net;
using Holdfast.Amqp.Connection;
using Holdfast.Conformance.Tests.Support;
using Holdfast.Testing;
using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;

namespace Holdfast.Conformance.Tests.Amqp;

public sealed class AuthenticationTests
{
    [Fact]
    public async Task A_wrong_password_is_refused_with_403_which_the_client_reports_as_an_authentication_failure()
    {
        await using var broker = await InProcessBroker.StartAsync();

        var failure = await Assert.ThrowsAnyAsync<Exception>(() => broker.Factory(password: "not-guest").CreateConnectionAsync());

        var refused = Exceptions.Find<AuthenticationFailureException>(failure);
        Assert.True(refused is not null, failure.ToString());
        Assert.Contains("ACCESS_REFUSED", refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_user_other_than_guest_is_refused()
    {
        await using var broker = await InProcessBroker.StartAsync();

        var failure = await Assert.ThrowsAnyAsync<Exception>(() => broker.Factory(user: "alice", password: "guest").CreateConnectionAsync());

        Assert.True(Exceptions.Find<AuthenticationFailureException>(failure) is not null, failure.ToString());
        await Eventually.TrueAsync(() => broker.Server.Amqp.ConnectionCount == 0, TimeSpan.FromSeconds(5), "refused connection forgotten");
    }

    [Fact]
    public async Task The_real_client_logs_in_with_amqplain_and_the_connection_works()
    {
        await using var broker = await InProcessBroker.StartAsync();
        var amqplain = new AmqplainMechanismFactory();
        var factory = broker.Factory();
        factory.AuthMechanisms = [amqplain];

        await using var connection = await factory.CreateConnectionAsync();

        Assert.Equal(1, amqplain.Instances);
        await using var channel = await connection.CreateChannelAsync(new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true));
        var queue = (await channel.QueueDeclareAsync(string.Empty, durable: false, exclusive: true, autoDelete: true)).QueueName;
        await channel.BasicPublishAsync(string.Empty, queue, mandatory: true, new BasicProperties(), "via amqplain"u8.ToArray());
        var got = await channel.BasicGetAsync(queue, autoAck: true);
        Assert.Equal("via amqplain"u8.ToArray(), got!.Body.ToArray());
    }

    [Fact]
    public async Task A_wrong_password_over_amqplain_is_refused_with_403()
    {
        await using var broker = await InProcessBroker.StartAsync();
        var amqplain = new AmqplainMechanismFactory();
        var factory = broker.Factory(password: "not-guest");
        factory.AuthMechanisms = [amqplain];

        var failure = await Assert.ThrowsAnyAsync<Exception>(() => factory.CreateConnectionAsync());

        Assert.Equal(1, amqplain.Instances);
        var refused = Exceptions.Find<AuthenticationFailureException>(failure);
        Assert.True(refused is not null, failure.ToString());
        Assert.Contains("ACCESS_REFUSED", refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Guest_is_let_in_from_loopback_only()
    {
        var authenticator = new GuestOnLoopbackAuthenticator();
        var guest = new AmqpCredentials("PLAIN", "guest", "guest");

        Assert.True((await authenticator.AuthenticateAsync(guest, new IPEndPoint(IPAddress.Loopback, 40000), default)).Succeeded);
        Assert.True((await authenticator.AuthenticateAsync(guest, new IPEndPoint(IPAddress.IPv6Loopback, 40000), default)).Succeeded);
        Assert.True((await authenticator.AuthenticateAsync(guest, new IPEndPoint(IPAddress.Loopback.MapToIPv6(), 40000), default)).Succeeded);

        var remote = await authenticator.AuthenticateAsync(guest, new IPEndPoint(IPAddress.Parse("10.1.2.3"), 40000), default);
        Assert.False(remote.Succeeded);
        Assert.Contains("localhost", remote.Reason, StringComparison.Ordinal);
        Assert.False((await authenticator.AuthenticateAsync(guest, null, default)).Succeeded);
    }
}
