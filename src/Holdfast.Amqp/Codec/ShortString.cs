using System.Text;

namespace Holdfast.Amqp.Codec;

/// <summary>
/// An AMQP short string: at most 255 bytes, on the wire as a length octet and the bytes. Kept as
/// bytes, not a <see cref="string"/>, so that decoding allocates nothing and an encoded value goes
/// back out byte for byte even when it is not valid UTF-8.
/// </summary>
/// <remarks>
/// A decoded short string borrows the buffer it was decoded from: it is valid as long as that
/// buffer is. <see cref="ToString"/> and <see cref="Detach"/> make copies that outlive it.
/// </remarks>
public readonly struct ShortString : IEquatable<ShortString>
{
    public const int MaxLength = 255;

    private readonly ReadOnlyMemory<byte> _utf8;

    /// <exception cref="ArgumentException">More than <see cref="MaxLength"/> bytes.</exception>
    public ShortString(ReadOnlyMemory<byte> utf8)
    {
        if (utf8.Length > MaxLength)
        {
            throw new ArgumentException($"A short string holds at most {MaxLength} bytes, not {utf8.Length}.", nameof(utf8));
        }

        _utf8 = utf8;
    }

    public static ShortString Empty => default;

    public ReadOnlyMemory<byte> Utf8 => _utf8;

    public ReadOnlySpan<byte> Span => _utf8.Span;

    /// <summary>Length in bytes, as on the wire.</summary>
    public int Length => _utf8.Length;

    public bool IsEmpty => _utf8.IsEmpty;

    /// <exception cref="ArgumentException">The UTF-8 form is longer than <see cref="MaxLength"/> bytes.</exception>
    public static ShortString FromString(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        return new ShortString(Encoding.UTF8.GetBytes(value));
    }

    public static implicit operator ShortString(string value) => FromString(value);

    /// <summary>A copy that no longer borrows the buffer this value was decoded from.</summary>
    public ShortString Detach() => new(_utf8.ToArray());

    public bool Equals(ShortString other) => _utf8.Span.SequenceEqual(other._utf8.Span);

    public bool EqualsUtf8(ReadOnlySpan<byte> utf8) => _utf8.Span.SequenceEqual(utf8);

    public override bool Equals(object? obj) => obj is ShortString other && Equals(other);

    public override int GetHashCode()
    {
        var hash = new HashCode();
        hash.AddBytes(_utf8.Span);
        return hash.ToHashCode();
    }

    public override string ToString() => Encoding.UTF8.GetString(_utf8.Span);

    public static bool operator ==(ShortString left, ShortString right) => left.Equals(right);

    public static bool operator !=(ShortString left, ShortString right) => !left.Equals(right);
}
