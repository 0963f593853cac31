namespace Holdfast.Broker.Messages;

/// <summary>A decimal header value as protocols carry it: an unscaled integer and a count of decimal places.</summary>
public readonly record struct DecimalValue(byte Scale, int Unscaled)
{
    /// <summary>The value as a .NET decimal; scales above 28 have no .NET decimal and throw.</summary>
    public decimal ToDecimal() => new(unchecked((int)(uint)Math.Abs((long)Unscaled)), 0, 0, Unscaled < 0, Scale);

    public override string ToString() => ToDecimal().ToString(System.Globalization.CultureInfo.InvariantCulture);
}
