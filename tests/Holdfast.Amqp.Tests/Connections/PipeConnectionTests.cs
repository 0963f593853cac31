using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Text;
using Holdfast.Amqp.Codec;
using Holdfast.Amqp.Connection;
using Holdfast.Amqp.Framing;
using Holdfast.Amqp.Tests.Support;

namespace Holdfast.Amqp.Tests.Connections;

/// <summary>The connection state machine driven over in-memory pipes: no socket, no Kestrel.</summary>
public sealed class PipeConnectionTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task The_handshake_succeeds_when_the_client_bytes_arrive_one_at_a_time()
    {
        var toServer = new Pipe();
        var toClient = new Pipe();
        var server = new AmqpServer(new AmqpServerOptions(), new GuestOnLoopbackAuthenticator());
        var run = server.RunConnectionAsync(new DuplexPipe(toServer.Reader, toClient.Writer), new IPEndPoint(IPAddress.Loopback, 1234), CancellationToken.None);

        var client = new ArrayBufferWriter<byte>();
        ClientHandshake.WriteLogin(client);
        FrameWriter.WriteMethod(client, 5, new ChannelOpen(ShortString.Empty), 4096);
        FrameWriter.WriteMethod(client, 0, new ConnectionClose(200, "bye", 0, 0), 4096);
        foreach (byte b in client.WrittenSpan.ToArray())
        {
            await toServer.Writer.WriteAsync(new[] { b });
        }

        await run.WaitAsync(Deadline);
        var replies = await ServerReplies.ReadMethodsAsync(toClient.Reader);

        Assert.Equal(
            [
                (0, AmqpMethodId.ConnectionStart),
                (0, AmqpMethodId.ConnectionTune),
                (0, AmqpMethodId.ConnectionOpenOk),
                (5, AmqpMethodId.ChannelOpenOk),
                (0, AmqpMethodId.ConnectionCloseOk),
            ],
            replies);
        Assert.Equal(0, server.ConnectionCount);
    }

    [Fact]
    public async Task A_frame_announcing_more_than_frame_max_is_refused_with_501_before_its_payload_arrives()
    {
        var toServer = new Pipe();
        var toClient = new Pipe();
        // A close deadline long enough that a loaded machine cannot starve the server's writer past it:
        // the client hangs up once the close arrives, which ends the connection without waiting it out.
        var server = new AmqpServer(new AmqpServerOptions { CloseTimeout = TimeSpan.FromSeconds(10) }, new GuestOnLoopbackAuthenticator());
        var run = server.RunConnectionAsync(new DuplexPipe(toServer.Reader, toClient.Writer), null, CancellationToken.None);

        // The header, then a method frame header claiming a 2 GiB payload, and nothing more.
        await toServer.Writer.WriteAsync(ProtocolHeader.Amqp091.ToArray());
        await toServer.Writer.WriteAsync(new byte[] { 1, 0, 0, 0x7F, 0xFF, 0xFF, 0xFF });

        var replies = await ServerReplies.ReadMethodsAsync(toClient.Reader, until: AmqpMethodId.ConnectionClose).WaitAsync(Deadline);
        await toServer.Writer.CompleteAsync();
        await run.WaitAsync(Deadline);

        Assert.Equal([(0, AmqpMethodId.ConnectionStart), (0, AmqpMethodId.ConnectionClose)], replies);
    }

    [Fact]
    public async Task An_InvalidOperationException_from_the_connections_own_code_is_reported_as_a_fault_not_a_transport_failure()
    {
        // InvalidOperationException is what a misused pipe or collection throws: a bug in the broker, which the log
        // must show as one (with its stack), not as the network failing.
        var toServer = new Pipe();
        var toClient = new Pipe();
        var observer = new RecordingObserver();
        var server = new AmqpServer(new AmqpServerOptions(), new ThrowingAuthenticator(), observer: observer);
        var run = server.RunConnectionAsync(new DuplexPipe(toServer.Reader, toClient.Writer), new IPEndPoint(IPAddress.Loopback, 1234), CancellationToken.None);

        var client = new ArrayBufferWriter<byte>();
        FrameWriter.WriteProtocolHeader(client);
        FrameWriter.WriteMethod(client, 0, new ConnectionStartOk(FieldTable.Empty, "PLAIN", new LongString(Encoding.UTF8.GetBytes("\0guest\0guest")), "en_US"), 4096);
        await toServer.Writer.WriteAsync(client.WrittenMemory);

        await run.WaitAsync(Deadline);

        var fault = Assert.Single(observer.Faults);
        Assert.IsType<InvalidOperationException>(fault);
        Assert.StartsWith("internal error", Assert.Single(observer.Closes), StringComparison.Ordinal);
    }

    private sealed class ThrowingAuthenticator : IAmqpAuthenticator
    {
        public ValueTask<AuthenticationResult> AuthenticateAsync(AmqpCredentials credentials, EndPoint? remoteEndPoint, CancellationToken cancellationToken) =>
            throw new InvalidOperationException("a bug in the authenticator");

        public bool CanOpenVirtualHost(string user, string virtualHost, out string refusal)
        {
            refusal = string.Empty;
            return true;
        }
    }

    private sealed class RecordingObserver : IAmqpConnectionObserver
    {
        public System.Collections.Concurrent.ConcurrentQueue<Exception> Faults { get; } = new();

        public System.Collections.Concurrent.ConcurrentQueue<string> Closes { get; } = new();

        public void Opened(AmqpConnection connection)
        {
        }

        public void AuthenticationFailed(AmqpConnection connection, AmqpCredentials? credentials, string reason)
        {
        }

        public void ProtocolError(AmqpConnection connection, ushort channel, AmqpError protocolError)
        {
        }

        public void Closed(AmqpConnection connection, string reason) => Closes.Enqueue(reason);

        public void Faulted(AmqpConnection connection, Exception exception) => Faults.Enqueue(exception);

        public void ChannelFaulted(AmqpConnection connection, ushort channel, Exception exception) => Faults.Enqueue(exception);
    }
}
