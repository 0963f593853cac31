using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using Holdfast.Amqp.Codec;
using Holdfast.Amqp.Connection;
using Holdfast.Amqp.Framing;
using Holdfast.Amqp.Tests.Support;
using Holdfast.Broker.Security;
using Holdfast.Storage;

namespace Holdfast.Amqp.Tests.Connections;

/// <summary>
/// Logins and connection.open against the broker's user directory, on a real store in a temporary
/// directory: the authenticator alone, then a whole handshake over in-memory pipes.
/// </summary>
public sealed class UserDirectoryAuthenticatorTests : IAsyncLifetime
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(10);
    private static readonly EndPoint Remote = new IPEndPoint(IPAddress.Parse("10.1.2.3"), 40000);
    private static readonly EndPoint Local = new IPEndPoint(IPAddress.Loopback, 40000);

    private readonly string _directory = Path.Combine(Path.GetTempPath(), $"holdfast-auth-{Guid.NewGuid():N}");
    private MessageStore _store = null!;

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(_directory);
        _store = await MessageStore.OpenAsync(new StoreOptions { Directory = _directory, SegmentSizeBytes = 1 << 20 });
    }

    public async Task DisposeAsync()
    {
        await _store.DisposeAsync();
        Directory.Delete(_directory, recursive: true);
    }

    [Fact]
    public async Task A_user_of_the_directory_logs_in_from_anywhere_with_its_password()
    {
        var directory = await LoadAsync();
        Assert.True(await directory.AddUserAsync("alice", "s3cret"));
        var authenticator = new UserDirectoryAuthenticator(directory);

        Assert.True((await authenticator.AuthenticateAsync(Plain("alice", "s3cret"), Remote, default)).Succeeded);
        Assert.True((await authenticator.AuthenticateAsync(new AmqpCredentials("AMQPLAIN", "alice", "s3cret"), null, default)).Succeeded);
    }

    [Fact]
    public async Task A_wrong_password_or_unknown_user_is_refused_with_the_directory_reason()
    {
        var authenticator = new UserDirectoryAuthenticator(await LoadAsync());

        var wrong = await authenticator.AuthenticateAsync(Plain("guest", "nope"), Local, default);
        var unknown = await authenticator.AuthenticateAsync(Plain("mallory", "guest"), Remote, default);

        Assert.Equal(AuthenticationResult.Refused("user 'guest' - invalid credentials"), wrong);
        Assert.Equal(AuthenticationResult.Refused("user 'mallory' not found"), unknown);
    }

    [Fact]
    public async Task Guest_is_refused_from_a_remote_address_with_RabbitMQ_reason_even_with_the_right_password()
    {
        var authenticator = new UserDirectoryAuthenticator(await LoadAsync());
        var guest = Plain("guest", "guest");

        Assert.True((await authenticator.AuthenticateAsync(guest, Local, default)).Succeeded);
        Assert.True((await authenticator.AuthenticateAsync(guest, new IPEndPoint(IPAddress.IPv6Loopback, 40000), default)).Succeeded);
        Assert.True((await authenticator.AuthenticateAsync(guest, new IPEndPoint(IPAddress.Loopback.MapToIPv6(), 40000), default)).Succeeded);
        Assert.True((await authenticator.AuthenticateAsync(guest, new UnixDomainSocketEndPoint("/tmp/holdfast.sock"), default)).Succeeded);

        Assert.Equal(AuthenticationResult.Refused("user 'guest' can only connect via localhost"), await authenticator.AuthenticateAsync(guest, Remote, default));
        Assert.False((await authenticator.AuthenticateAsync(guest, null, default)).Succeeded);
    }

    [Fact]
    public async Task The_loopback_list_comes_from_the_security_options()
    {
        var directory = await LoadAsync(new SecurityOptions { PasswordIterations = 1_000, LoopbackUsers = ["alice"] });
        Assert.True(await directory.AddUserAsync("alice", "s3cret"));
        var authenticator = new UserDirectoryAuthenticator(directory);

        Assert.True((await authenticator.AuthenticateAsync(Plain("guest", "guest"), Remote, default)).Succeeded);
        Assert.Equal(AuthenticationResult.Refused("user 'alice' can only connect via localhost"), await authenticator.AuthenticateAsync(Plain("alice", "s3cret"), Remote, default));
    }

    [Fact]
    public async Task Opening_a_vhost_needs_the_vhost_and_a_permission_entry_in_it_with_RabbitMQ_texts()
    {
        var directory = await LoadAsync();
        Assert.True(await directory.AddUserAsync("alice", "s3cret"));
        var authenticator = new UserDirectoryAuthenticator(directory);

        Assert.False(authenticator.CanOpenVirtualHost("alice", "prod", out string missing));
        Assert.Equal("vhost prod not found", missing);

        Assert.True(await directory.AddVirtualHostAsync("prod"));
        Assert.False(authenticator.CanOpenVirtualHost("alice", "prod", out string refused));
        Assert.Equal("access to vhost 'prod' refused for user 'alice'", refused);

        await directory.SetPermissionsAsync("prod", "alice", "", "", "");
        Assert.True(authenticator.CanOpenVirtualHost("alice", "prod", out string none));
        Assert.Equal(string.Empty, none);
        Assert.False(authenticator.CanOpenVirtualHost("alice", "/", out _));
    }

    [Fact]
    public void The_guest_authenticator_opens_only_its_configured_vhosts()
    {
        Assert.True(new GuestOnLoopbackAuthenticator().CanOpenVirtualHost("guest", "/", out _));
        Assert.False(new GuestOnLoopbackAuthenticator().CanOpenVirtualHost("guest", "prod", out string refusal));
        Assert.Equal("vhost prod not found", refusal);

        var configured = new GuestOnLoopbackAuthenticator(["prod"]);
        Assert.True(configured.CanOpenVirtualHost("guest", "prod", out _));
        Assert.False(configured.CanOpenVirtualHost("guest", "/", out _));
    }

    [Fact]
    public async Task Connection_open_to_a_vhost_the_user_has_no_permissions_in_is_closed_with_530()
    {
        var directory = await LoadAsync();
        Assert.True(await directory.AddUserAsync("alice", "s3cret"));
        Assert.True(await directory.AddVirtualHostAsync("prod"));

        var closes = await HandshakeAsync(new UserDirectoryAuthenticator(directory), "alice", "s3cret", "prod");

        var close = Assert.Single(closes);
        Assert.Equal(((ushort)ReplyCode.NotAllowed, "NOT_ALLOWED - access to vhost 'prod' refused for user 'alice'", (ushort)10, (ushort)40), close);
    }

    [Fact]
    public async Task Connection_open_to_a_missing_vhost_is_closed_with_530_vhost_not_found()
    {
        var directory = await LoadAsync();
        Assert.True(await directory.AddUserAsync("alice", "s3cret"));

        var closes = await HandshakeAsync(new UserDirectoryAuthenticator(directory), "alice", "s3cret", "nowhere");

        var close = Assert.Single(closes);
        Assert.Equal(((ushort)ReplyCode.NotAllowed, "NOT_ALLOWED - vhost nowhere not found", (ushort)10, (ushort)40), close);
    }

    [Fact]
    public async Task Connection_open_succeeds_once_the_user_has_permissions_in_the_vhost()
    {
        var directory = await LoadAsync();
        Assert.True(await directory.AddUserAsync("alice", "s3cret"));
        Assert.True(await directory.AddVirtualHostAsync("prod"));
        await directory.SetPermissionsAsync("prod", "alice", ".*", ".*", ".*");

        var closes = await HandshakeAsync(new UserDirectoryAuthenticator(directory), "alice", "s3cret", "prod");

        Assert.Empty(closes);
    }

    private Task<UserDirectory> LoadAsync(SecurityOptions? options = null) =>
        UserDirectory.LoadAsync(_store, options: options ?? new SecurityOptions { PasswordIterations = 1_000 });

    private static AmqpCredentials Plain(string user, string password) => new("PLAIN", user, password);

    /// <summary>
    /// Runs start-ok, tune-ok and open from a remote address, then closes; returns every connection.close
    /// the server sent (none when the open succeeded), with the text as the client reads it, RabbitMQ's
    /// "NAME - " prefix included.
    /// </summary>
    private static async Task<List<(ushort Code, string Text, ushort ClassId, ushort MethodId)>> HandshakeAsync(IAmqpAuthenticator authenticator, string user, string password, string virtualHost)
    {
        var toServer = new Pipe();
        var toClient = new Pipe();
        var server = new AmqpServer(new AmqpServerOptions { CloseTimeout = TimeSpan.FromMilliseconds(200) }, authenticator);
        var run = server.RunConnectionAsync(new DuplexPipe(toServer.Reader, toClient.Writer), Remote, CancellationToken.None);

        var client = new ArrayBufferWriter<byte>();
        ClientHandshake.WriteLogin(client, user, password, virtualHost);
        FrameWriter.WriteMethod(client, 0, new ConnectionClose(200, "bye", 0, 0), 4096);
        await toServer.Writer.WriteAsync(client.WrittenMemory);

        await run.WaitAsync(Deadline);
        return await ReadClosesAsync(toClient.Reader);
    }

    private static async Task<List<(ushort, string, ushort, ushort)>> ReadClosesAsync(PipeReader reader)
    {
        var closes = new List<(ushort, string, ushort, ushort)>();
        while (true)
        {
            var result = await reader.ReadAsync();
            var buffer = result.Buffer;
            var input = new SequenceReader<byte>(buffer);
            while (FrameReader.TryReadFrame(ref input, 1 << 20, out var frame, out _) == FrameReadStatus.Frame)
            {
                var payload = frame.Payload.ToArray();
                if (frame.Type == FrameType.Method
                    && (AmqpMethodId)System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(payload) == AmqpMethodId.ConnectionClose
                    && ConnectionClose.TryDecodeArguments(payload.AsMemory(4), out var close, out _))
                {
                    closes.Add((close.ReplyCode, close.ReplyText.ToString(), close.ClassId, close.MethodId));
                }
            }

            reader.AdvanceTo(input.Position, buffer.End);
            if (result.IsCompleted)
            {
                return closes;
            }
        }
    }
}
