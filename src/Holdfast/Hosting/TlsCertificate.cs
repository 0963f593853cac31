using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Server.Kestrel.Https;

namespace Holdfast.Hosting;

/// <summary>
/// The AMQPS listener's certificate, read from PEM files: the server certificate with its private key, and any
/// further certificates in the same file (intermediates, as in a <c>fullchain.pem</c>) sent with it.
/// </summary>
/// <remarks>
/// The key is read from <c>--tls-key</c> when given, otherwise from the certificate file itself (an unencrypted
/// <c>PRIVATE KEY</c>, <c>RSA PRIVATE KEY</c> or <c>EC PRIVATE KEY</c> block). The key loaded from PEM is
/// ephemeral; on Linux and macOS SslStream uses it as it is, but Windows' SChannel cannot, so there (as Kestrel
/// does with its own PEM certificates) the certificate is round-tripped through PKCS#12 to give it a stored key.
/// </remarks>
internal sealed class TlsCertificate : IDisposable
{
    private TlsCertificate(string certFile, X509Certificate2 certificate, X509Certificate2Collection chain)
    {
        CertFile = certFile;
        Certificate = certificate;
        Chain = chain;
    }

    /// <summary>Full path of the certificate file, for messages.</summary>
    public string CertFile { get; }

    public X509Certificate2 Certificate { get; }

    /// <summary>
    /// The certificates after the first in the certificate file, from which the chain sent to clients is built (the
    /// intermediates; a self-signed root at its end is left out, as TLS expects clients to hold it already).
    /// </summary>
    public X509Certificate2Collection Chain { get; }

    /// <summary>The certificate for <paramref name="options"/>' TLS listener, or null when it asks for none.</summary>
    /// <exception cref="InvalidOperationException">A TLS port without a certificate file.</exception>
    /// <exception cref="FileNotFoundException">The certificate or key file does not exist; the message names it.</exception>
    /// <exception cref="InvalidDataException">A file that cannot be read or holds no usable certificate or key; the message names it.</exception>
    public static TlsCertificate? LoadFor(HoldfastServerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.AmqpsPort is null)
        {
            return null;
        }

        if (string.IsNullOrWhiteSpace(options.TlsCertFile))
        {
            throw new InvalidOperationException("The AMQPS listener (--amqps-port, Amqps:Port) needs a PEM certificate: --tls-cert FILE (Tls:CertFile).");
        }

        return Load(options.TlsCertFile, string.IsNullOrWhiteSpace(options.TlsKeyFile) ? null : options.TlsKeyFile);
    }

    /// <inheritdoc cref="LoadFor" path="/exception"/>
    public static TlsCertificate Load(string certFile, string? keyFile)
    {
        string certPath = Path.GetFullPath(certFile);
        string? keyPath = keyFile is null ? null : Path.GetFullPath(keyFile);
        RequireFile(certPath, "certificate", "--tls-cert, Tls:CertFile");
        if (keyPath is not null)
        {
            RequireFile(keyPath, "key", "--tls-key, Tls:KeyFile");
        }

        var all = new X509Certificate2Collection();
        try
        {
            all.ImportFromPemFile(certPath);
        }
        catch (Exception e) when (e is CryptographicException or IOException or UnauthorizedAccessException)
        {
            DisposeAll(all);
            throw new InvalidDataException($"TLS certificate file '{certPath}' could not be read as PEM: {e.Message}", e);
        }

        if (all.Count == 0)
        {
            throw new InvalidDataException($"TLS certificate file '{certPath}' holds no PEM certificate (-----BEGIN CERTIFICATE-----).");
        }

        // The first certificate in the file is the server's; CreateFromPemFile takes the same one and pairs it with the key.
        DisposeAll(all.Take(1));
        var chain = new X509Certificate2Collection(all.Skip(1).ToArray());
        X509Certificate2 certificate;
        try
        {
            certificate = X509Certificate2.CreateFromPemFile(certPath, keyPath);
        }
        catch (Exception e) when (e is CryptographicException or ArgumentException or IOException or UnauthorizedAccessException)
        {
            DisposeAll(chain);
            throw new InvalidDataException(
                keyPath is null
                    ? $"TLS certificate file '{certPath}' holds no unencrypted private key for its certificate ({e.Message}); give the key with --tls-key FILE (Tls:KeyFile)."
                    : $"TLS key file '{keyPath}' holds no unencrypted private key for the certificate in '{certPath}': {e.Message}",
                e);
        }

        if (OperatingSystem.IsWindows())
        {
            using var ephemeral = certificate;
            certificate = X509CertificateLoader.LoadPkcs12(ephemeral.Export(X509ContentType.Pkcs12), password: null);
        }

        return new TlsCertificate(certPath, certificate, chain);
    }

    /// <summary>Kestrel's TLS settings for a raw-TCP listener: this certificate, TLS 1.2 or later, no client certificates.</summary>
    public HttpsConnectionAdapterOptions ToConnectionAdapterOptions(TimeSpan handshakeTimeout) => new()
    {
        ServerCertificate = Certificate,
        ServerCertificateChain = Chain.Count == 0 ? null : Chain,
        SslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
        ClientCertificateMode = ClientCertificateMode.NoCertificate,
        HandshakeTimeout = handshakeTimeout,
    };

    public void Dispose()
    {
        Certificate.Dispose();
        DisposeAll(Chain);
    }

    public override string ToString() =>
        FormattableString.Invariant($"{Certificate.Subject}, expires {Certificate.NotAfter.ToUniversalTime():yyyy-MM-dd'T'HH:mm:ss'Z'}");

    private static void RequireFile(string path, string what, string names)
    {
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"TLS {what} file '{path}' ({names}) does not exist.", path);
        }
    }

    private static void DisposeAll(IEnumerable<X509Certificate2> certificates)
    {
        foreach (var certificate in certificates)
        {
            certificate.Dispose();
        }
    }
}
