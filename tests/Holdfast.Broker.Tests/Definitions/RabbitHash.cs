using System.Security.Cryptography;
using System.Text;

namespace Holdfast.Broker.Tests.Definitions;

/// <summary>
/// Password hashes made the way a RabbitMQ node makes them (rabbit_password): a random 4-byte salt,
/// the algorithm's digest of salt ‖ UTF-8 password, and base64 of salt ‖ digest. Written here from the
/// documented recipe, independently of the broker's code, so that the tests check one against the other.
/// </summary>
internal static class RabbitHash
{
    /// <summary>rabbitmq.com's worked example: salt 908DC60A, password "test12", SHA-256.</summary>
    public const string DocumentedSha256OfTest12 = "kI3GCqW5JLMJa4iX1lo7X4D6XbYqlLgxIs30+P6tENUV2POR";

    /// <summary>The long-standing worked example for pre-3.6 nodes: salt CAD5089B, password "simon", MD5.</summary>
    public const string DocumentedMd5OfSimon = "ytUIm8s3AnKsXQjptplKFytfVxI=";

    public static string Sha256(string password) => Salted(password, SHA256.HashData);

    public static string Sha512(string password) => Salted(password, SHA512.HashData);

    /// <summary>rabbit_password_hashing_pbkdf2_sha256: a 16-byte salt, PBKDF2-HMAC-SHA256, 210 000 iterations, 32 bytes.</summary>
    public static string Pbkdf2(string password)
    {
        var salt = RandomNumberGenerator.GetBytes(16);
        var key = Rfc2898DeriveBytes.Pbkdf2(Encoding.UTF8.GetBytes(password), salt, 210_000, HashAlgorithmName.SHA256, 32);
        return Convert.ToBase64String([.. salt, .. key]);
    }

    private static string Salted(string password, Func<byte[], byte[]> digest)
    {
        var salt = RandomNumberGenerator.GetBytes(4);
        return Convert.ToBase64String([.. salt, .. digest([.. salt, .. Encoding.UTF8.GetBytes(password)])]);
    }
}
