namespace Holdfast.Amqp.Codec;

/// <summary>
/// The field-table decimal ('D'): a scale octet (decimal places) and a signed 32-bit unscaled value,
/// so 12.34 is (2, 1234). Kept raw so that a peer's value is echoed exactly.
/// </summary>
public readonly record struct AmqpDecimal(byte Scale, int UnscaledValue)
{
    /// <exception cref="OverflowException">The scale is above 28, the most <see cref="decimal"/> holds.</exception>
    public decimal ToDecimal()
    {
        if (Scale > 28)
        {
            throw new OverflowException($"Decimal scale {Scale} is above 28.");
        }

        long magnitude = Math.Abs((long)UnscaledValue);
        return new decimal((int)(uint)magnitude, (int)(magnitude >> 32), 0, UnscaledValue < 0, Scale);
    }
}
