using System.Text;

namespace Holdfast.Amqp.Codec;

/// <summary>
/// An AMQP long string: a 32-bit length and that many bytes. The protocol uses it for binary data
/// (SASL responses, secrets) as well as text, so it stays bytes; <see cref="ToString"/> reads it as
/// UTF-8.
/// </summary>
/// <remarks>A decoded long string borrows the buffer it was decoded from, like <see cref="ShortString"/>.</remarks>
public readonly struct LongString : IEquatable<LongString>
{
    private readonly ReadOnlyMemory<byte> _bytes;

    public LongString(ReadOnlyMemory<byte> bytes) => _bytes = bytes;

    public static LongString Empty => default;

    public ReadOnlyMemory<byte> Bytes => _bytes;

    public ReadOnlySpan<byte> Span => _bytes.Span;

    /// <summary>Length in bytes, as on the wire.</summary>
    public int Length => _bytes.Length;

    public bool IsEmpty => _bytes.IsEmpty;

    public static LongString FromString(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        return new LongString(Encoding.UTF8.GetBytes(value));
    }

    public static implicit operator LongString(string value) => FromString(value);

    /// <summary>A copy that no longer borrows the buffer this value was decoded from.</summary>
    public LongString Detach() => new(_bytes.ToArray());

    public bool Equals(LongString other) => _bytes.Span.SequenceEqual(other._bytes.Span);

    public override bool Equals(object? obj) => obj is LongString other && Equals(other);

    public override int GetHashCode()
    {
        var hash = new HashCode();
        hash.AddBytes(_bytes.Span);
        return hash.ToHashCode();
    }

    public override string ToString() => Encoding.UTF8.GetString(_bytes.Span);

    public static bool operator ==(LongString left, LongString right) => left.Equals(right);

    public static bool operator !=(LongString left, LongString right) => !left.Equals(right);
}
