using Holdfast.Conformance.Tests.Durability;
using Holdfast.Conformance.Tests.Support;
using Holdfast.Storage;
using Holdfast.Testing;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;
using RabbitMQ.Client.Exceptions;

namespace Holdfast.Conformance.Tests.Security;

/// <summary>RabbitMQ's configure/write/read permissions, checked on declare, bind, publish and consume.</summary>
public sealed class PermissionTests
{
    [Fact]
    public async Task Each_operation_needs_its_permission_and_a_refusal_closes_only_the_channel()
    {
        using var directory = new TempDirectory("holdfast-permissions");
        await using var broker = await DurableBroker.StartAsync(new StoreOptions { Directory = directory.Path, SegmentSizeBytes = 1 << 20, DefaultFlushPolicy = FlushPolicy.Async });
        var users = broker.Server.Broker.Users!;
        await users.AddUserAsync("app", "s3cret");

        // May create and read app.* queues, write only to the default exchange and app.in.
        await users.SetPermissionsAsync("/", "app", "^app\\.", "^(amq\\.default|app\\..*)$", "^app\\.");

        await using (var admin = await broker.Factory().CreateConnectionAsync())
        await using (var setup = await admin.CreateChannelAsync())
        {
            await setup.ExchangeDeclareAsync("app.in", ExchangeType.Direct);
            await setup.ExchangeDeclareAsync("other.in", ExchangeType.Direct);
            await setup.QueueDeclareAsync("other.q", durable: false, exclusive: false, autoDelete: false);
        }

        await using var connection = await broker.Factory("app", "s3cret").CreateConnectionAsync();
        await using (var channel = await connection.CreateChannelAsync())
        {
            await channel.QueueDeclareAsync("app.work", durable: false, exclusive: false, autoDelete: false);
            await channel.QueueBindAsync("app.work", "app.in", "k");
            await channel.BasicPublishAsync("app.in", "k", "hello"u8.ToArray());
            var got = await channel.BasicGetAsync("app.work", autoAck: true);
            Assert.Equal("hello"u8.ToArray(), got!.Body.ToArray());
        }

        await AssertRefused(connection, c => c.QueueDeclareAsync("other.mine", durable: false, exclusive: false, autoDelete: false), "access to queue 'other.mine' in vhost '/' refused for user 'app'");
        await AssertRefused(connection, c => c.BasicGetAsync("other.q", autoAck: true), "access to queue 'other.q' in vhost '/' refused for user 'app'");
        await AssertRefused(connection, c => c.QueueBindAsync("app.work", "other.in", "k"), "access to exchange 'other.in' in vhost '/' refused for user 'app'");
        await AssertRefused(connection, async c =>
        {
            await c.BasicPublishAsync("other.in", "k", "x"u8.ToArray());
            await c.BasicQosAsync(0, 1, false); // a round trip, so the refusal of the publish has arrived
        }, "access to exchange 'other.in' in vhost '/' refused for user 'app'");
        await AssertRefused(connection, c => c.BasicConsumeAsync("other.q", autoAck: true, new AsyncEventingBasicConsumer(c)), "access to queue 'other.q' in vhost '/' refused for user 'app'");
        await AssertRefused(connection, c => c.ExchangeDeclareAsync("other.out", ExchangeType.Fanout), "access to exchange 'other.out' in vhost '/' refused for user 'app'");

        // The connection survived every refusal.
        await using var last = await connection.CreateChannelAsync();
        Assert.Equal(0u, (await last.QueueDeclarePassiveAsync("app.work")).MessageCount);
    }

    [Fact]
    public async Task Wrong_credentials_get_403_and_a_user_without_permissions_on_the_vhost_gets_530()
    {
        using var directory = new TempDirectory("holdfast-permissions");
        await using var broker = await DurableBroker.StartAsync(new StoreOptions { Directory = directory.Path, SegmentSizeBytes = 1 << 20, DefaultFlushPolicy = FlushPolicy.Async });
        await broker.Server.Broker.Users!.AddUserAsync("nobody", "pw");

        var wrong = await Assert.ThrowsAnyAsync<Exception>(() => broker.Factory("guest", "not-the-password").CreateConnectionAsync());
        Assert.NotNull(Exceptions.Find<AuthenticationFailureException>(wrong));

        // RabbitMQ.Client hands back the connection already closed by the broker's connection.close
        // (or, on a slower path, throws with the same reason): either way the reason is 530.
        ShutdownEventArgs? reason;
        try
        {
            await using var opened = await broker.Factory("nobody", "pw").CreateConnectionAsync();
            await Eventually.TrueAsync(() => !opened.IsOpen, TimeSpan.FromSeconds(5), "the broker closing the connection");
            reason = opened.CloseReason;
        }
        catch (Exception ex) when (Exceptions.Find<OperationInterruptedException>(ex) is { } interrupted)
        {
            reason = interrupted.ShutdownReason;
        }

        Assert.NotNull(reason);
        Assert.Equal(530, reason!.ReplyCode);
        Assert.Contains("access to vhost '/' refused for user 'nobody'", reason.ReplyText, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Users_and_permissions_survive_a_restart()
    {
        using var directory = new TempDirectory("holdfast-permissions");
        await using var broker = await DurableBroker.StartAsync(new StoreOptions { Directory = directory.Path, SegmentSizeBytes = 1 << 20 });
        await broker.Server.Broker.Users!.AddUserAsync("keeper", "kept");
        await broker.Server.Broker.Users!.SetPermissionsAsync("/", "keeper", ".*", ".*", ".*");

        await broker.RestartAsync();

        await using var connection = await broker.Factory("keeper", "kept").CreateConnectionAsync();
        Assert.True(connection.IsOpen);
    }

    private static async Task AssertRefused(IConnection connection, Func<IChannel, Task> action, string reason)
    {
        await using var channel = await connection.CreateChannelAsync();
        var error = await Assert.ThrowsAnyAsync<Exception>(() => action(channel));
        var closed = Exceptions.Find<OperationInterruptedException>(error) ?? throw new Xunit.Sdk.XunitException($"expected a channel close, got {error}");
        Assert.Equal(403, closed.ShutdownReason!.ReplyCode);
        Assert.Contains(reason, closed.ShutdownReason.ReplyText, StringComparison.Ordinal);
        Assert.True(connection.IsOpen);

        // The refusal closed only that channel: a new one on the same connection gets answers.
        await using var next = await connection.CreateChannelAsync();
        await next.BasicQosAsync(0, 1, false);
        Assert.True(next.IsOpen);
    }
}
