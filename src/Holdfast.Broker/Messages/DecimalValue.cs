using System.Globalization;

namespace Holdfast.Broker.Messages;

/// <summary>A decimal header value as protocols carry it: an unscaled integer and a count of decimal places.</summary>
public readonly record struct DecimalValue(byte Scale, int Unscaled)
{
    /// <summary>The value as a .NET decimal; scales above 28 have no .NET decimal and throw.</summary>
    public decimal ToDecimal() => new(unchecked((int)(uint)Math.Abs((long)Unscaled)), 0, 0, Unscaled < 0, Scale);

    /// <summary>
    /// The exact value with all its places ("1.50" for 150 at scale 2), written from the digits rather than through
    /// <see cref="decimal"/>: a peer may send any scale up to 255, and refusal texts quote what it sent.
    /// </summary>
    public override string ToString()
    {
        var digits = Math.Abs((long)Unscaled).ToString(CultureInfo.InvariantCulture);
        if (Scale > 0)
        {
            digits = digits.PadLeft(Scale + 1, '0');
            digits = string.Concat(digits.AsSpan(0, digits.Length - Scale), ".", digits.AsSpan(digits.Length - Scale));
        }

        return Unscaled < 0 ? "-" + digits : digits;
    }
}
