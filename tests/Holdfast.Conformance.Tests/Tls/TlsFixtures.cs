using System.Net;
using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Holdfast.Amqp.Connection;
using Holdfast.Conformance.Tests.Support;
using Holdfast.Hosting;
using Holdfast.Storage;
using Microsoft.Extensions.Logging.Abstractions;
using RabbitMQ.Client;

namespace Holdfast.Conformance.Tests.Tls;

/// <summary>
/// A self-signed server certificate made for the test (subject and SAN localhost and 127.0.0.1, server
/// authentication), written as PEM: the certificate alone, the key alone, and both in one file.
/// </summary>
internal sealed class TestCertificate : IDisposable
{
    private TestCertificate(string directory, string name, X509Certificate2 certificate, string keyPem, X509Certificate2? issuer)
    {
        Certificate = certificate;
        CertFile = Path.Combine(directory, name + ".crt.pem");
        KeyFile = Path.Combine(directory, name + ".key.pem");
        CombinedFile = Path.Combine(directory, name + ".pem");
        string certPem = certificate.ExportCertificatePem() + "\n" + (issuer is null ? "" : issuer.ExportCertificatePem() + "\n");
        File.WriteAllText(CertFile, certPem);
        File.WriteAllText(KeyFile, keyPem);
        File.WriteAllText(CombinedFile, certPem + keyPem + "\n");
    }

    public X509Certificate2 Certificate { get; }

    /// <summary>The certificate (and its intermediate, when it has one), no key.</summary>
    public string CertFile { get; }

    /// <summary>The private key as PKCS#8 PEM.</summary>
    public string KeyFile { get; }

    /// <summary>The certificate (and intermediate) followed by the key: a single file for <c>--tls-cert</c>.</summary>
    public string CombinedFile { get; }

    public static TestCertificate CreateRsa(string directory, string name = "rsa")
    {
        using var key = RSA.Create(2048);
        var request = new CertificateRequest("CN=localhost", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        AddServerExtensions(request);
        var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30));
        return new TestCertificate(directory, name, certificate, key.ExportPkcs8PrivateKeyPem(), issuer: null);
    }

    public static TestCertificate CreateEcdsa(string directory, string name = "ecdsa")
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=localhost", key, HashAlgorithmName.SHA256);
        AddServerExtensions(request);
        var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30));
        return new TestCertificate(directory, name, certificate, key.ExportPkcs8PrivateKeyPem(), issuer: null);
    }

    /// <summary>A leaf signed by an intermediate of a made-up root CA; the certificate files hold the leaf, then the intermediate.</summary>
    public static TestCertificate CreateIssued(string directory, string name = "issued")
    {
        using var rootKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var rootRequest = new CertificateRequest("CN=Holdfast Test Root", rootKey, HashAlgorithmName.SHA256);
        AddAuthorityExtensions(rootRequest);
        using var root = rootRequest.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-3), DateTimeOffset.UtcNow.AddDays(90));

        using var intermediateKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var intermediateRequest = new CertificateRequest("CN=Holdfast Test Intermediate", intermediateKey, HashAlgorithmName.SHA256);
        AddAuthorityExtensions(intermediateRequest);
        using var intermediatePublic = intermediateRequest.Create(root, DateTimeOffset.UtcNow.AddDays(-2), DateTimeOffset.UtcNow.AddDays(60), [1, 2, 3, 4, 5, 6, 7, 8]);
        using var intermediate = intermediatePublic.CopyWithPrivateKey(intermediateKey);

        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=localhost", key, HashAlgorithmName.SHA256);
        AddServerExtensions(request);
        var certificate = request.Create(intermediate, DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30), [8, 7, 6, 5, 4, 3, 2, 1]);
        return new TestCertificate(directory, name, certificate, key.ExportPkcs8PrivateKeyPem(), intermediate);
    }

    /// <summary>
    /// A client-side check that accepts exactly this certificate for the name the client asked for: the chain is
    /// not trusted (self-signed), so <see cref="SslPolicyErrors.RemoteCertificateChainErrors"/> is expected, but a
    /// name mismatch is not, and the certificate must be this one.
    /// </summary>
    public bool Validate(X509Certificate? presented, SslPolicyErrors errors) =>
        (errors & ~SslPolicyErrors.RemoteCertificateChainErrors) == SslPolicyErrors.None
        && presented is not null
        && presented.GetCertHashString(HashAlgorithmName.SHA256) == Certificate.GetCertHashString(HashAlgorithmName.SHA256);

    public void Dispose() => Certificate.Dispose();

    private static void AddAuthorityExtensions(CertificateRequest request)
    {
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(certificateAuthority: true, hasPathLengthConstraint: false, pathLengthConstraint: 0, critical: true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign, critical: true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, critical: false));
    }

    private static void AddServerExtensions(CertificateRequest request)
    {
        var names = new SubjectAlternativeNameBuilder();
        names.AddDnsName("localhost");
        names.AddIpAddress(IPAddress.Loopback);
        request.CertificateExtensions.Add(names.Build());
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(certificateAuthority: false, hasPathLengthConstraint: false, pathLengthConstraint: 0, critical: true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyEncipherment, critical: true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1", "Server Authentication")], critical: false));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, critical: false));
    }
}

/// <summary>An in-process broker with both listeners, plain AMQP and AMQPS, on 127.0.0.1 with system-picked ports.</summary>
internal sealed class TlsBroker : IAsyncDisposable
{
    private TlsBroker(HoldfastServer server) => Server = server;

    public HoldfastServer Server { get; }

    public int PlainPort => Server.AmqpEndPoint.Port;

    public int TlsPort => Server.AmqpsEndPoint?.Port ?? throw new InvalidOperationException("The broker has no TLS listener.");

    public static async Task<TlsBroker> StartAsync(string dataDir, string certFile, string? keyFile, int tlsPort = 0) =>
        new(await HoldfastServer.StartAsync(Options(dataDir, certFile, keyFile, tlsPort), NullLoggerFactory.Instance, CancellationToken.None));

    public static HoldfastServerOptions Options(string dataDir, string? certFile, string? keyFile, int? tlsPort = 0) => new()
    {
        Store = new StoreOptions { Directory = dataDir, DefaultFlushPolicy = FlushPolicy.Sync },
        AmqpPort = 0,
        AmqpsPort = tlsPort,
        TlsCertFile = certFile,
        TlsKeyFile = keyFile,
        Amqp = new AmqpServerOptions { HandshakeTimeout = TimeSpan.FromSeconds(5), CloseTimeout = TimeSpan.FromSeconds(2) },
        ShutdownTimeout = TimeSpan.FromSeconds(3),
    };

    /// <summary>A RabbitMQ.Client factory for the TLS port, checking the server presents <paramref name="expected"/> for "localhost".</summary>
    public ConnectionFactory TlsFactory(TestCertificate expected) => TlsFactory(TlsPort, expected);

    public static ConnectionFactory TlsFactory(int port, TestCertificate expected)
    {
        var factory = PlainFactory(port);
        factory.Ssl = new SslOption
        {
            Enabled = true,
            ServerName = "localhost",
            CertificateValidationCallback = (_, certificate, _, errors) => expected.Validate(certificate, errors),
        };
        return factory;
    }

    public ConnectionFactory PlainFactory() => PlainFactory(PlainPort);

    public static ConnectionFactory PlainFactory(int port) => LoopbackClient.Factory(port, TimeSpan.FromSeconds(5), name: "tls-conformance");

    public async ValueTask DisposeAsync() => await Server.DisposeAsync();
}
