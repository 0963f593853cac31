using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Text;
using Holdfast.Hosting;
using Holdfast.Testing;
using Microsoft.Extensions.Logging.Abstractions;
using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;

namespace Holdfast.Conformance.Tests.Tls;

/// <summary>
/// The AMQPS listener: the same AMQP connection handler behind TLS (Kestrel's SslStream middleware), with a PEM
/// certificate made by the test, next to the plain listener, and RabbitMQ.Client 7 connecting to it unmodified.
/// </summary>
public sealed class TlsListenerTests : IDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(15);

    private readonly TempDirectory _dir = new("holdfast-tls");

    public void Dispose() => _dir.Dispose();

    private string DataDir => Path.Combine(_dir.Path, "data");

    [Theory]
    [InlineData("rsa", false)]
    [InlineData("ecdsa", true)]
    public async Task A_tls_client_declares_publishes_with_confirms_and_gets_the_message_back(string keyType, bool keyInCertFile)
    {
        using var certificate = keyType == "rsa" ? TestCertificate.CreateRsa(_dir.Path) : TestCertificate.CreateEcdsa(_dir.Path);
        await using var broker = keyInCertFile
            ? await TlsBroker.StartAsync(DataDir, certificate.CombinedFile, keyFile: null)
            : await TlsBroker.StartAsync(DataDir, certificate.CertFile, certificate.KeyFile);

        Assert.NotEqual(0, broker.TlsPort);
        Assert.NotEqual(broker.PlainPort, broker.TlsPort);
        Assert.Equal(certificate.Certificate.Thumbprint, broker.Server.Tls!.Certificate.Thumbprint);

        await using var connection = await broker.TlsFactory(certificate).CreateConnectionAsync();
        await using var channel = await connection.CreateChannelAsync(new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true));
        await channel.QueueDeclareAsync("secure", durable: true, exclusive: false, autoDelete: false);
        await channel.BasicPublishAsync(string.Empty, "secure", mandatory: true, new BasicProperties { Persistent = true }, "over tls"u8.ToArray())
            .AsTask().WaitAsync(Timeout);

        var got = await channel.BasicGetAsync("secure", autoAck: true);
        Assert.NotNull(got);
        Assert.Equal("over tls", Encoding.UTF8.GetString(got.Body.Span));
    }

    [Fact]
    public async Task The_plain_listener_serves_at_the_same_time_and_both_reach_the_same_queues()
    {
        using var certificate = TestCertificate.CreateRsa(_dir.Path);
        await using var broker = await TlsBroker.StartAsync(DataDir, certificate.CertFile, certificate.KeyFile);

        await using var plain = await broker.PlainFactory().CreateConnectionAsync();
        await using var secure = await broker.TlsFactory(certificate).CreateConnectionAsync();
        await using var plainChannel = await plain.CreateChannelAsync(new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true));
        await using var secureChannel = await secure.CreateChannelAsync(new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true));
        await plainChannel.QueueDeclareAsync("shared", durable: true, exclusive: false, autoDelete: false);

        await plainChannel.BasicPublishAsync(string.Empty, "shared", mandatory: true, new BasicProperties { Persistent = true }, "from plain"u8.ToArray()).AsTask().WaitAsync(Timeout);
        await secureChannel.BasicPublishAsync(string.Empty, "shared", mandatory: true, new BasicProperties { Persistent = true }, "from tls"u8.ToArray()).AsTask().WaitAsync(Timeout);

        var first = await secureChannel.BasicGetAsync("shared", autoAck: true);
        var second = await plainChannel.BasicGetAsync("shared", autoAck: true);
        Assert.Equal("from plain", Encoding.UTF8.GetString(first!.Body.Span));
        Assert.Equal("from tls", Encoding.UTF8.GetString(second!.Body.Span));
    }

    [Fact]
    public async Task A_plain_client_on_the_tls_port_fails_cleanly_and_the_broker_carries_on()
    {
        using var certificate = TestCertificate.CreateRsa(_dir.Path);
        await using var broker = await TlsBroker.StartAsync(DataDir, certificate.CertFile, certificate.KeyFile);

        // RabbitMQ.Client without TLS: its protocol header is not a TLS ClientHello, so the handshake fails and the socket closes.
        var plainOnTls = TlsBroker.PlainFactory(broker.TlsPort);
        await Assert.ThrowsAsync<BrokerUnreachableException>(() => plainOnTls.CreateConnectionAsync().WaitAsync(Timeout));

        // The same at the byte level: the server answers nothing AMQP and closes, promptly (well before any timeout of its own).
        using (var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp))
        {
            await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, broker.TlsPort));
            await socket.SendAsync("AMQP\0\0\u0009\u0001"u8.ToArray(), SocketFlags.None);
            var received = await ReadToEndAsync(socket).WaitAsync(TimeSpan.FromSeconds(4));
            // Nothing, or a TLS alert record (content type 21): never AMQP in clear.
            Assert.True(received.Length == 0 || received[0] == 21, $"the TLS port answered {Convert.ToHexString(received)}");
        }

        // And a TLS client on the TLS port, and a plain one on the plain port, still work.
        await using var secure = await broker.TlsFactory(certificate).CreateConnectionAsync();
        await using var secureChannel = await secure.CreateChannelAsync();
        await secureChannel.QueueDeclareAsync("after", durable: false, exclusive: false, autoDelete: false);
        await using var plain = await broker.PlainFactory().CreateConnectionAsync();
        await using var plainChannel = await plain.CreateChannelAsync();
        var declared = await plainChannel.QueueDeclarePassiveAsync("after");
        Assert.Equal("after", declared.QueueName);
    }

    [Fact]
    public async Task A_client_that_never_starts_the_tls_handshake_is_dropped_after_the_handshake_timeout()
    {
        using var certificate = TestCertificate.CreateRsa(_dir.Path);
        var options = TlsBroker.Options(DataDir, certificate.CertFile, certificate.KeyFile);
        options = options with { Amqp = options.Amqp with { HandshakeTimeout = TimeSpan.FromSeconds(1) } };
        await using var server = await HoldfastServer.StartAsync(options, NullLoggerFactory.Instance, CancellationToken.None);

        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, server.AmqpsEndPoint!.Port));
        var received = await ReadToEndAsync(socket).WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Empty(received);
    }

    [Fact]
    public async Task The_tls_port_negotiates_tls_1_2_or_later_and_carries_raw_amqp()
    {
        using var certificate = TestCertificate.CreateRsa(_dir.Path);
        await using var broker = await TlsBroker.StartAsync(DataDir, certificate.CertFile, certificate.KeyFile);

        foreach (var protocols in new[] { SslProtocols.None, SslProtocols.Tls12, SslProtocols.Tls13 })
        {
            using var tcp = new TcpClient();
            await tcp.ConnectAsync(IPAddress.Loopback, broker.TlsPort);
            await using var tls = new SslStream(tcp.GetStream());
            await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
            {
                TargetHost = "localhost",
                EnabledSslProtocols = protocols,
                RemoteCertificateValidationCallback = (_, presented, _, errors) => certificate.Validate(presented, errors),
            }).WaitAsync(Timeout);

            Assert.True(tls.SslProtocol is SslProtocols.Tls12 or SslProtocols.Tls13, $"negotiated {tls.SslProtocol}");
            if (protocols != SslProtocols.None)
            {
                Assert.Equal(protocols, tls.SslProtocol);
            }

            // No ALPN is offered on the AMQP port (Kestrel would offer h2 and http/1.1 on an HTTP one).
            Assert.Equal(default, tls.NegotiatedApplicationProtocol);

            // The protocol header through TLS is answered with connection.start: frame type 1, channel 0, class 10, method 10.
            await tls.WriteAsync("AMQP\0\0\u0009\u0001"u8.ToArray());
            var header = new byte[11];
            await tls.ReadExactlyAsync(header).AsTask().WaitAsync(Timeout);
            Assert.Equal(1, header[0]);
            Assert.Equal(0, (header[1] << 8) | header[2]);
            Assert.Equal(10, (header[7] << 8) | header[8]);
            Assert.Equal(10, (header[9] << 8) | header[10]);
        }
    }

    [Fact]
    public async Task Intermediates_after_the_certificate_in_its_file_are_sent_to_clients()
    {
        using var certificate = TestCertificate.CreateIssued(_dir.Path);
        await using var broker = await TlsBroker.StartAsync(DataDir, certificate.CombinedFile, keyFile: null);

        var intermediate = Assert.Single(broker.Server.Tls!.Chain);
        Assert.Equal("CN=Holdfast Test Intermediate", intermediate.Subject);

        using var tcp = new TcpClient();
        await tcp.ConnectAsync(IPAddress.Loopback, broker.TlsPort);
        var sent = new List<string>();
        await using var tls = new SslStream(tcp.GetStream());
        await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
        {
            TargetHost = "localhost",
            RemoteCertificateValidationCallback = (_, presented, chain, errors) =>
            {
                sent.AddRange(chain!.ChainPolicy.ExtraStore.Select(c => c.Subject));
                return certificate.Validate(presented, errors);
            },
        }).WaitAsync(Timeout);

        Assert.Contains("CN=Holdfast Test Intermediate", sent);
    }

    [Fact]
    public async Task A_missing_certificate_file_fails_the_start_naming_the_file_before_the_store_is_opened()
    {
        string missing = Path.Combine(_dir.Path, "no-such-cert.pem");
        var failure = await Assert.ThrowsAsync<FileNotFoundException>(() =>
            HoldfastServer.StartAsync(TlsBroker.Options(DataDir, missing, keyFile: null), NullLoggerFactory.Instance, CancellationToken.None));
        Assert.Contains($"'{missing}'", failure.Message, StringComparison.Ordinal);
        Assert.Contains("--tls-cert", failure.Message, StringComparison.Ordinal);
        Assert.Equal(missing, failure.FileName);
        Assert.False(Directory.Exists(DataDir) && Directory.EnumerateFileSystemEntries(DataDir).Any(), "the store was opened before the certificate was checked");
    }

    [Fact]
    public async Task A_missing_key_file_fails_the_start_naming_the_file()
    {
        using var certificate = TestCertificate.CreateRsa(_dir.Path);
        string missing = Path.Combine(_dir.Path, "no-such-key.pem");
        var failure = await Assert.ThrowsAsync<FileNotFoundException>(() =>
            HoldfastServer.StartAsync(TlsBroker.Options(DataDir, certificate.CertFile, missing), NullLoggerFactory.Instance, CancellationToken.None));
        Assert.Contains($"'{missing}'", failure.Message, StringComparison.Ordinal);
        Assert.Contains("--tls-key", failure.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_certificate_file_without_a_key_and_no_key_file_fails_the_start_asking_for_one()
    {
        using var certificate = TestCertificate.CreateRsa(_dir.Path);
        var failure = await Assert.ThrowsAsync<InvalidDataException>(() =>
            HoldfastServer.StartAsync(TlsBroker.Options(DataDir, certificate.CertFile, keyFile: null), NullLoggerFactory.Instance, CancellationToken.None));
        Assert.Contains($"'{certificate.CertFile}'", failure.Message, StringComparison.Ordinal);
        Assert.Contains("--tls-key", failure.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_file_with_no_pem_certificate_fails_the_start_naming_the_file()
    {
        string garbage = Path.Combine(_dir.Path, "garbage.pem");
        await File.WriteAllTextAsync(garbage, "this is not a certificate\n");
        var failure = await Assert.ThrowsAsync<InvalidDataException>(() =>
            HoldfastServer.StartAsync(TlsBroker.Options(DataDir, garbage, keyFile: null), NullLoggerFactory.Instance, CancellationToken.None));
        Assert.Contains($"'{garbage}'", failure.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_key_that_does_not_match_the_certificate_fails_the_start_naming_the_key_file()
    {
        using var certificate = TestCertificate.CreateRsa(_dir.Path, "one");
        using var other = TestCertificate.CreateRsa(_dir.Path, "other");
        var failure = await Assert.ThrowsAsync<InvalidDataException>(() =>
            HoldfastServer.StartAsync(TlsBroker.Options(DataDir, certificate.CertFile, other.KeyFile), NullLoggerFactory.Instance, CancellationToken.None));
        Assert.Contains($"'{other.KeyFile}'", failure.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_tls_port_without_a_certificate_fails_the_start()
    {
        var failure = await Assert.ThrowsAsync<InvalidOperationException>(() =>
            HoldfastServer.StartAsync(TlsBroker.Options(DataDir, certFile: null, keyFile: null), NullLoggerFactory.Instance, CancellationToken.None));
        Assert.Contains("--tls-cert", failure.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Without_a_tls_port_there_is_no_tls_listener()
    {
        await using var server = await HoldfastServer.StartAsync(TlsBroker.Options(DataDir, certFile: null, keyFile: null, tlsPort: null), NullLoggerFactory.Instance, CancellationToken.None);
        Assert.Null(server.AmqpsEndPoint);
        Assert.Null(server.Tls);
    }

    [Fact]
    public async Task A_tls_port_already_taken_fails_the_start_and_leaves_the_store_closed()
    {
        using var certificate = TestCertificate.CreateRsa(_dir.Path);
        await using var first = await TlsBroker.StartAsync(Path.Combine(_dir.Path, "first"), certificate.CertFile, certificate.KeyFile);

        await Assert.ThrowsAnyAsync<IOException>(() => TlsBroker.StartAsync(DataDir, certificate.CertFile, certificate.KeyFile, tlsPort: first.TlsPort));

        // The failed start closed its store: the same directory opens again.
        await using var second = await TlsBroker.StartAsync(DataDir, certificate.CertFile, certificate.KeyFile);
        await using var connection = await second.TlsFactory(certificate).CreateConnectionAsync();
        Assert.True(connection.IsOpen);
    }

    /// <summary>Reads until the peer closes (or resets) the connection; returns what it sent.</summary>
    private static async Task<byte[]> ReadToEndAsync(Socket socket)
    {
        var received = new List<byte>();
        var buffer = new byte[4096];
        try
        {
            while (true)
            {
                int read = await socket.ReceiveAsync(buffer, SocketFlags.None);
                if (read == 0)
                {
                    break;
                }

                received.AddRange(buffer.AsSpan(0, read));
            }
        }
        catch (SocketException)
        {
            // A reset is a close too.
        }

        return [.. received];
    }
}
