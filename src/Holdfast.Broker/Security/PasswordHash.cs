using System.Security.Cryptography;
using System.Text;

namespace Holdfast.Broker.Security;

/// <summary>
/// A salted, deliberately slow password hash: PBKDF2 with HMAC-SHA256. The algorithm and iteration
/// count travel with the hash, so raising the cost later leaves existing passwords verifiable.
/// </summary>
/// <remarks>
/// Users imported from RabbitMQ keep RabbitMQ's own hash (<see cref="FromRabbitMq"/>), since the
/// password itself is not known: one SHA-256, SHA-512 or MD5 of a 4-byte salt followed by the UTF-8
/// password, or none at all (an empty <c>password_hash</c>: no password logs in).
/// </remarks>
internal sealed class PasswordHash
{
    /// <summary>Algorithm id as stored; a new algorithm gets a new id, never a new meaning for this one.</summary>
    public const byte Pbkdf2Sha256 = 1;

    /// <summary>RabbitMQ's <c>rabbit_password_hashing_sha256</c>: SHA-256(salt ‖ UTF-8 password), 4-byte salt.</summary>
    public const byte RabbitSha256 = 2;

    /// <summary>RabbitMQ's <c>rabbit_password_hashing_sha512</c>: SHA-512(salt ‖ UTF-8 password), 4-byte salt.</summary>
    public const byte RabbitSha512 = 3;

    /// <summary>RabbitMQ's <c>rabbit_password_hashing_md5</c> (before 3.6): MD5(salt ‖ UTF-8 password), 4-byte salt.</summary>
    public const byte RabbitMd5 = 4;

    /// <summary>No password: RabbitMQ's empty <c>password_hash</c>, a user meant for other mechanisms. Nothing verifies.</summary>
    public const byte NoPassword = 5;

    /// <summary>RabbitMQ's salt for its one-pass hashes is always 32 bits.</summary>
    public const int RabbitSaltBytes = 4;

    // rabbit_password_hashing_pbkdf2_sha256: its iteration count and sizes are fixed in the module, not stored.
    private const int RabbitPbkdf2Iterations = 210_000;
    private const int RabbitPbkdf2SaltBytes = 16;

    public const int MinIterations = 1;

    // A stored count above this would make every login hang; it can only come from a bug or tampering.
    public const int MaxIterations = 100_000_000;

    public const int SaltBytes = 16;
    public const int HashBytes = 32;

    private readonly byte[] _salt;
    private readonly byte[] _hash;

    private PasswordHash(byte algorithm, int iterations, byte[] salt, byte[] hash)
    {
        Algorithm = algorithm;
        Iterations = iterations;
        _salt = salt;
        _hash = hash;
    }

    public byte Algorithm { get; }

    public int Iterations { get; }

    public ReadOnlySpan<byte> Salt => _salt;

    public ReadOnlySpan<byte> Hash => _hash;

    /// <summary>Whether checking a guess costs a full key derivation; RabbitMQ's one-pass hashes do not.</summary>
    public bool IsSlow => Algorithm == Pbkdf2Sha256;

    /// <summary>RabbitMQ's name for the algorithm, or Holdfast's own description of it.</summary>
    public string AlgorithmName => Algorithm switch
    {
        RabbitSha256 => "rabbit_password_hashing_sha256",
        RabbitSha512 => "rabbit_password_hashing_sha512",
        RabbitMd5 => "rabbit_password_hashing_md5",
        NoPassword => "none (no password)",
        _ => "pbkdf2-hmac-sha256",
    };

    public static PasswordHash Create(string password, int iterations)
    {
        var salt = RandomNumberGenerator.GetBytes(SaltBytes);
        var hash = new byte[HashBytes];
        Rfc2898DeriveBytes.Pbkdf2(password, salt, hash, iterations, HashAlgorithmName.SHA256);
        return new PasswordHash(Pbkdf2Sha256, iterations, salt, hash);
    }

    /// <summary>
    /// A hash no password matches (its bytes are random, not derived). Verifying against it costs what
    /// a real check costs, so a login for a missing user takes as long as one with a wrong password.
    /// </summary>
    public static PasswordHash Decoy(int iterations) =>
        new(Pbkdf2Sha256, iterations, RandomNumberGenerator.GetBytes(SaltBytes), RandomNumberGenerator.GetBytes(HashBytes));

    /// <summary>
    /// A hash as RabbitMQ exports it: <paramref name="passwordHash"/> is the base64 of the salt followed
    /// by the digest, <paramref name="hashingAlgorithm"/> the module that made it. An empty hash is a user
    /// with no password, as in RabbitMQ.
    /// </summary>
    /// <exception cref="ArgumentException">An algorithm RabbitMQ does not have, text that is not base64, or a length that algorithm does not produce.</exception>
    public static PasswordHash FromRabbitMq(string hashingAlgorithm, string passwordHash)
    {
        ArgumentNullException.ThrowIfNull(hashingAlgorithm);
        ArgumentNullException.ThrowIfNull(passwordHash);
        if (passwordHash.Length == 0)
        {
            return new PasswordHash(NoPassword, 0, [], []);
        }

        byte[] salted;
        try
        {
            salted = Convert.FromBase64String(passwordHash);
        }
        catch (FormatException ex)
        {
            throw new ArgumentException("The password_hash is not base64.", nameof(passwordHash), ex);
        }

        if (hashingAlgorithm == "rabbit_password_hashing_pbkdf2_sha256")
        {
            // The same derivation as Holdfast's own, with the parameters fixed in RabbitMQ's module.
            CheckLength(salted, hashingAlgorithm, RabbitPbkdf2SaltBytes, HashBytes);
            return new PasswordHash(Pbkdf2Sha256, RabbitPbkdf2Iterations, salted[..RabbitPbkdf2SaltBytes], salted[RabbitPbkdf2SaltBytes..]);
        }

        var (algorithm, digestBytes) = hashingAlgorithm switch
        {
            "rabbit_password_hashing_sha256" => (RabbitSha256, SHA256.HashSizeInBytes),
            "rabbit_password_hashing_sha512" => (RabbitSha512, SHA512.HashSizeInBytes),
            "rabbit_password_hashing_md5" => (RabbitMd5, 16),
            _ => throw new ArgumentException(
                $"The hashing_algorithm '{hashingAlgorithm}' is not one Holdfast can verify (rabbit_password_hashing_sha256, rabbit_password_hashing_sha512, rabbit_password_hashing_md5, rabbit_password_hashing_pbkdf2_sha256).",
                nameof(hashingAlgorithm)),
        };
        CheckLength(salted, hashingAlgorithm, RabbitSaltBytes, digestBytes);
        return new PasswordHash(algorithm, 1, salted[..RabbitSaltBytes], salted[RabbitSaltBytes..]);

        static void CheckLength(byte[] salted, string algorithm, int saltBytes, int digestBytes)
        {
            if (salted.Length != saltBytes + digestBytes)
            {
                throw new ArgumentException(
                    $"The password_hash is {salted.Length} bytes; {algorithm} hashes are {saltBytes + digestBytes} ({saltBytes}-byte salt, {digestBytes}-byte digest).",
                    nameof(passwordHash));
            }
        }
    }

    /// <exception cref="InvalidDataException">Values no writer of this format produces.</exception>
    public static PasswordHash FromStored(byte algorithm, int iterations, byte[] salt, byte[] hash)
    {
        if (algorithm is RabbitSha256 or RabbitSha512 or RabbitMd5 or NoPassword)
        {
            return FromStoredRabbitMq(algorithm, iterations, salt, hash);
        }

        if (algorithm != Pbkdf2Sha256)
        {
            throw new InvalidDataException($"password hash algorithm {algorithm} is unknown to this version (it knows {Pbkdf2Sha256}, PBKDF2-HMAC-SHA256, and {RabbitSha256}..{NoPassword}, imported from RabbitMQ)");
        }

        if (iterations is < MinIterations or > MaxIterations)
        {
            throw new InvalidDataException($"password hash iteration count {iterations} is outside {MinIterations}..{MaxIterations}");
        }

        if (salt.Length is < 8 or > 64 || hash.Length is < 16 or > 64)
        {
            throw new InvalidDataException($"password hash has a {salt.Length}-byte salt and a {hash.Length}-byte hash");
        }

        return new PasswordHash(algorithm, iterations, salt, hash);
    }

    /// <summary>Whether <paramref name="other"/> is the very same hash: same algorithm, cost, salt and digest.</summary>
    public bool SameAs(PasswordHash other)
    {
        ArgumentNullException.ThrowIfNull(other);
        return Algorithm == other.Algorithm && Iterations == other.Iterations && Salt.SequenceEqual(other.Salt) && Hash.SequenceEqual(other.Hash);
    }

    public bool Verify(string password)
    {
        if (Algorithm == NoPassword)
        {
            return false;
        }

        if (Algorithm != Pbkdf2Sha256)
        {
            return VerifyOnePass(password);
        }

        Span<byte> derived = stackalloc byte[_hash.Length];
        Rfc2898DeriveBytes.Pbkdf2(password, _salt, derived, Iterations, HashAlgorithmName.SHA256);

        // Constant time, so how long the comparison takes says nothing about how close a guess was.
        return CryptographicOperations.FixedTimeEquals(derived, _hash);
    }

    private static PasswordHash FromStoredRabbitMq(byte algorithm, int iterations, byte[] salt, byte[] hash)
    {
        var (expectedIterations, saltBytes, digestBytes) = algorithm switch
        {
            RabbitSha256 => (1, RabbitSaltBytes, SHA256.HashSizeInBytes),
            RabbitSha512 => (1, RabbitSaltBytes, SHA512.HashSizeInBytes),
            RabbitMd5 => (1, RabbitSaltBytes, 16),
            _ => (0, 0, 0),
        };
        if (iterations != expectedIterations || salt.Length != saltBytes || hash.Length != digestBytes)
        {
            throw new InvalidDataException($"password hash of algorithm {algorithm} has {iterations} iterations, a {salt.Length}-byte salt and a {hash.Length}-byte hash");
        }

        return new PasswordHash(algorithm, iterations, salt, hash);
    }

    /// <summary>RabbitMQ's check: the algorithm's digest of salt ‖ UTF-8 password, compared in constant time.</summary>
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Security", "CA5351:Do Not Use Broken Cryptographic Algorithms", Justification = "Only to verify passwords a RabbitMQ node hashed with MD5 before 3.6, as it would; nothing new is hashed with it.")]
    private bool VerifyOnePass(string password)
    {
        var input = new byte[_salt.Length + Encoding.UTF8.GetByteCount(password)];
        _salt.CopyTo(input, 0);
        Encoding.UTF8.GetBytes(password, input.AsSpan(_salt.Length));
        Span<byte> digest = stackalloc byte[SHA512.HashSizeInBytes];
        int written = Algorithm switch
        {
            RabbitSha256 => SHA256.HashData(input, digest),
            RabbitSha512 => SHA512.HashData(input, digest),
            _ => MD5.HashData(input, digest),
        };

        // The buffer held the password in the clear.
        CryptographicOperations.ZeroMemory(input);
        return CryptographicOperations.FixedTimeEquals(digest[..written], _hash);
    }
}
