namespace Holdfast.Broker.Routing;

/// <summary>
/// Header equality as RabbitMQ's headers exchange has it: values of the same class compare by
/// value, so an integer matches an integer of another width, a float a double, and a string the
/// same UTF-8 bytes; values of different classes never match.
/// </summary>
internal static class HeaderValues
{
    public static bool Equivalent(object? pattern, object? value)
    {
        if (TryInteger(pattern, out var a) && TryInteger(value, out var b))
        {
            return a == b;
        }

        if (TryFloat(pattern, out var x) && TryFloat(value, out var y))
        {
            return x.Equals(y);
        }

        if (TryBytes(pattern, out var p) && TryBytes(value, out var v))
        {
            return p.Span.SequenceEqual(v.Span);
        }

        return Equals(pattern, value);
    }

    private static bool TryInteger(object? value, out Int128 result)
    {
        switch (value)
        {
            case sbyte v: result = v; return true;
            case byte v: result = v; return true;
            case short v: result = v; return true;
            case ushort v: result = v; return true;
            case int v: result = v; return true;
            case uint v: result = v; return true;
            case long v: result = v; return true;
            case ulong v: result = v; return true;
            default: result = 0; return false;
        }
    }

    private static bool TryFloat(object? value, out double result)
    {
        switch (value)
        {
            case float v: result = v; return true;
            case double v: result = v; return true;
            default: result = 0; return false;
        }
    }

    private static bool TryBytes(object? value, out ReadOnlyMemory<byte> result)
    {
        switch (value)
        {
            case string s: result = System.Text.Encoding.UTF8.GetBytes(s); return true;
            case Messages.TextValue t: result = t.Utf8; return true;
            case byte[] b: result = b; return true;
            case ReadOnlyMemory<byte> m: result = m; return true;
            default: result = default; return false;
        }
    }
}
