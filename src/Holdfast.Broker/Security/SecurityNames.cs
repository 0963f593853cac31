using System.Text;

namespace Holdfast.Broker.Security;

/// <summary>The rules every user name, virtual host name, tag and pattern must meet before it is stored.</summary>
internal static class SecurityNames
{
    /// <summary>AMQP carries a virtual host name as a short string, so 255 bytes is the most a client can name.</summary>
    public const int MaxNameBytes = 255;

    // Throws on a lone surrogate: a name stored as UTF-8 must read back as the same string.
    private static readonly UTF8Encoding s_strictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <exception cref="ArgumentException">Empty, too long, or not valid Unicode.</exception>
    public static void ValidateName(string name, string what, string parameterName)
    {
        ArgumentNullException.ThrowIfNull(name, parameterName);
        if (name.Length == 0)
        {
            throw new ArgumentException($"A {what} name cannot be empty.", parameterName);
        }

        int bytes = Utf8Length(name, what, parameterName);
        if (bytes > MaxNameBytes)
        {
            throw new ArgumentException($"The {what} name '{Shorten(name)}' is {bytes} UTF-8 bytes long; at most {MaxNameBytes} are allowed.", parameterName);
        }
    }

    /// <summary>Text that is stored behind a 16-bit length: any valid Unicode up to 65535 UTF-8 bytes.</summary>
    /// <exception cref="ArgumentException">Too long, or not valid Unicode.</exception>
    public static void ValidateText(string text, string what, string parameterName)
    {
        ArgumentNullException.ThrowIfNull(text, parameterName);
        int bytes = Utf8Length(text, what, parameterName);
        if (bytes > ushort.MaxValue)
        {
            throw new ArgumentException($"The {what} '{Shorten(text)}' is {bytes} UTF-8 bytes long; at most {ushort.MaxValue} are allowed.", parameterName);
        }
    }

    private static int Utf8Length(string text, string what, string parameterName)
    {
        try
        {
            return s_strictUtf8.GetByteCount(text);
        }
        catch (EncoderFallbackException ex)
        {
            throw new ArgumentException($"The {what} '{Shorten(text)}' is not valid Unicode (it holds an unpaired surrogate).", parameterName, ex);
        }
    }

    private static string Shorten(string text) => text.Length <= 40 ? text : string.Concat(text.AsSpan(0, 40), "…");
}
