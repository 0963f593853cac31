using Holdfast.Broker.Messages;

namespace Holdfast.Broker.Tests.Messages;

public sealed class DecimalValueTests
{
    [Theory]
    [InlineData(0, 0, "0")]
    [InlineData(2, 150, "1.50")]
    [InlineData(2, -1234, "-12.34")]
    [InlineData(3, 7, "0.007")]
    [InlineData(28, int.MaxValue, "0.0000000000000000002147483647")]
    [InlineData(0, int.MinValue, "-2147483648")]
    public void Text_is_what_a_dotnet_decimal_writes_where_there_is_one(byte scale, int unscaled, string expected)
    {
        var value = new DecimalValue(scale, unscaled);

        Assert.Equal(expected, value.ToString());
        Assert.Equal(value.ToDecimal().ToString(System.Globalization.CultureInfo.InvariantCulture), value.ToString());
    }

    [Theory]
    [InlineData(29, 1, "0.00000000000000000000000000001")]
    [InlineData(255, int.MinValue, "-0.")]
    public void Scales_past_28_are_written_too_since_a_peer_may_send_them(byte scale, int unscaled, string prefix)
    {
        var text = new DecimalValue(scale, unscaled).ToString();

        Assert.StartsWith(prefix, text, StringComparison.Ordinal);
        Assert.Equal(scale, text.Length - text.IndexOf('.', StringComparison.Ordinal) - 1);
    }
}
