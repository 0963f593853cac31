using System.Security.Cryptography;

namespace Holdfast.Broker.Security;

/// <summary>
/// A salted, deliberately slow password hash: PBKDF2 with HMAC-SHA256. The algorithm and iteration
/// count travel with the hash, so raising the cost later leaves existing passwords verifiable.
/// </summary>
internal sealed class PasswordHash
{
    /// <summary>Algorithm id as stored; a new algorithm gets a new id, never a new meaning for this one.</summary>
    public const byte Pbkdf2Sha256 = 1;

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

    /// <exception cref="InvalidDataException">Values no writer of this format produces.</exception>
    public static PasswordHash FromStored(byte algorithm, int iterations, byte[] salt, byte[] hash)
    {
        if (algorithm != Pbkdf2Sha256)
        {
            throw new InvalidDataException($"password hash algorithm {algorithm} is unknown to this version (only {Pbkdf2Sha256}, PBKDF2-HMAC-SHA256, is)");
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

    public bool Verify(string password)
    {
        Span<byte> derived = stackalloc byte[_hash.Length];
        Rfc2898DeriveBytes.Pbkdf2(password, _salt, derived, Iterations, HashAlgorithmName.SHA256);

        // Constant time, so how long the comparison takes says nothing about how close a guess was.
        return CryptographicOperations.FixedTimeEquals(derived, _hash);
    }
}
