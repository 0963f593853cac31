using System.Buffers.Binary;
using System.Text;
using Holdfast.Amqp.Codec;

namespace Holdfast.Amqp.Connection;

/// <summary>
/// Reads the response field of connection.start-ok for the two mechanisms offered:
/// PLAIN (RFC 4616: authzid NUL authcid NUL password) and AMQPLAIN (a field table without its
/// length prefix, holding LOGIN and PASSWORD).
/// </summary>
internal static class SaslResponse
{
    public const string Plain = "PLAIN";
    public const string AmqPlain = "AMQPLAIN";

    public static bool IsSupported(string mechanism) => mechanism is Plain or AmqPlain;

    public static bool TryParse(string mechanism, ReadOnlySpan<byte> response, out AmqpCredentials credentials, out string problem) => mechanism switch
    {
        Plain => TryParsePlain(response, out credentials, out problem),
        AmqPlain => TryParseAmqPlain(response, out credentials, out problem),
        _ => Fail($"unsupported mechanism {mechanism}", out credentials, out problem),
    };

    private static bool TryParsePlain(ReadOnlySpan<byte> response, out AmqpCredentials credentials, out string problem)
    {
        int first = response.IndexOf((byte)0);
        if (first < 0)
        {
            return Fail("PLAIN response has no NUL separator", out credentials, out problem);
        }

        var rest = response[(first + 1)..];
        int second = rest.IndexOf((byte)0);
        if (second < 0 || rest[(second + 1)..].Contains((byte)0))
        {
            return Fail("PLAIN response is not authzid NUL user NUL password", out credentials, out problem);
        }

        credentials = new AmqpCredentials(Plain, Encoding.UTF8.GetString(rest[..second]), Encoding.UTF8.GetString(rest[(second + 1)..]));
        problem = string.Empty;
        return true;
    }

    private static bool TryParseAmqPlain(ReadOnlySpan<byte> response, out AmqpCredentials credentials, out string problem)
    {
        // The table arrives without its 4-byte length; put one in front so the table codec can read it.
        // The copy is bounded by the frame the response came in.
        byte[] table = new byte[4 + response.Length];
        BinaryPrimitives.WriteUInt32BigEndian(table, (uint)response.Length);
        response.CopyTo(table.AsSpan(4));
        if (!FieldTable.TryDecode(table, out var fields, out _, out var error))
        {
            return Fail($"AMQPLAIN response is not a field table ({error.Reason})", out credentials, out problem);
        }

        if (!TryGetText(fields, "LOGIN", out string? user) || !TryGetText(fields, "PASSWORD", out string? password))
        {
            return Fail("AMQPLAIN response lacks LOGIN or PASSWORD", out credentials, out problem);
        }

        credentials = new AmqpCredentials(AmqPlain, user, password);
        problem = string.Empty;
        return true;
    }

    private static bool TryGetText(FieldTable fields, string name, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out string? text)
    {
        text = fields.TryGetValue(name, out var value) && value.Kind == FieldValueKind.LongString ? value.AsString() : null;
        return text is not null;
    }

    private static bool Fail(string why, out AmqpCredentials credentials, out string problem)
    {
        credentials = null!;
        problem = why;
        return false;
    }
}
