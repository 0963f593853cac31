using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;

namespace Holdfast.Broker.Security;

/// <summary>
/// Remembers, per user, the last password that passed the slow check, so that a reconnect storm
/// costs one PBKDF2 per user instead of one per connection. Only successes are kept, so the cache
/// holds at most one entry per existing user whatever a client sends.
/// </summary>
/// <remarks>
/// The password is kept as an HMAC-SHA256 under a key made at start and never stored, not as a plain
/// SHA-256: a memory dump then offers nothing a precomputed table could crack. Each entry also holds
/// the very hash object it was checked against, so a login that raced a password change and finished
/// after it cannot make the old password good again: the user's current hash is a different object.
/// </remarks>
internal sealed class VerifiedPasswordCache(TimeProvider time, TimeSpan lifetime)
{
    private readonly ConcurrentDictionary<string, Entry> _entries = new(StringComparer.Ordinal);
    private readonly byte[] _key = RandomNumberGenerator.GetBytes(32);

    public bool IsEnabled => lifetime > TimeSpan.Zero;

    public int Count => _entries.Count;

    public byte[] Digest(string password) => HMACSHA256.HashData(_key, Encoding.UTF8.GetBytes(password));

    public bool Contains(string user, PasswordHash current, ReadOnlySpan<byte> digest)
    {
        if (!_entries.TryGetValue(user, out var entry))
        {
            return false;
        }

        if (!ReferenceEquals(entry.Hash, current) || time.GetElapsedTime(entry.Timestamp) >= lifetime)
        {
            _entries.TryRemove(KeyValuePair.Create(user, entry));
            return false;
        }

        return CryptographicOperations.FixedTimeEquals(entry.Digest, digest);
    }

    public void Remember(string user, PasswordHash verified, byte[] digest) => _entries[user] = new Entry(verified, digest, time.GetTimestamp());

    public bool IsRemembered(string user) => _entries.ContainsKey(user);

    public void Forget(string user) => _entries.TryRemove(user, out _);

    private sealed record Entry(PasswordHash Hash, byte[] Digest, long Timestamp);
}
