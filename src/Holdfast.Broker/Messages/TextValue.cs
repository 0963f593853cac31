namespace Holdfast.Broker.Messages;

/// <summary>
/// A string header value as sent: UTF-8 bytes, kept as bytes so that a value that is not valid
/// UTF-8 still comes back out exactly. Distinct from a byte array value (<c>byte[]</c>), which some
/// protocols type differently.
/// </summary>
public readonly struct TextValue : IEquatable<TextValue>
{
    private readonly ReadOnlyMemory<byte> _utf8;

    public TextValue(ReadOnlyMemory<byte> utf8) => _utf8 = utf8;

    public TextValue(string text) => _utf8 = System.Text.Encoding.UTF8.GetBytes(text);

    public ReadOnlyMemory<byte> Utf8 => _utf8;

    public static bool operator ==(TextValue left, TextValue right) => left.Equals(right);

    public static bool operator !=(TextValue left, TextValue right) => !left.Equals(right);

    public bool Equals(TextValue other) => _utf8.Span.SequenceEqual(other._utf8.Span);

    public override bool Equals(object? obj) => obj is TextValue other && Equals(other);

    public override int GetHashCode()
    {
        var hash = default(HashCode);
        hash.AddBytes(_utf8.Span);
        return hash.ToHashCode();
    }

    public override string ToString() => System.Text.Encoding.UTF8.GetString(_utf8.Span);
}
