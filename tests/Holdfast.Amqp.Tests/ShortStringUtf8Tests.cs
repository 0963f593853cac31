using System.Text;
using Holdfast.Amqp.Codec;
using static Holdfast.Amqp.Tests.Support.Wire;

namespace Holdfast.Amqp.Tests;

/// <summary>
/// Short strings are UTF-8 (spec, 4.2.5.3), and the door keeps every one it reads as a .NET string that is encoded
/// again on the way out. Invalid bytes would come back as U+FFFD, three bytes each: a different name, possibly too
/// long for a short string, so that a delivery carrying it could never be encoded. The decoder refuses them with 502.
/// </summary>
public sealed class ShortStringUtf8Tests
{
    public static TheoryData<byte[]> NotUtf8 =>
    [
        [0xFF],
        [(byte)'a', 0xC3, 0x28],
        [0xED, 0xA0, 0x80], // an encoded surrogate
        [0xC0, 0xAF], // overlong '/'
        [.. Enumerable.Repeat((byte)0x80, 255)],
    ];

    [Theory]
    [MemberData(nameof(NotUtf8))]
    public void A_method_field_that_is_not_utf8_is_a_syntax_error_naming_the_field(byte[] routingKey)
    {
        byte[] arguments = Concat(Hex("0000"), ShortStr("amq.fanout"), [(byte)routingKey.Length, .. routingKey], Octet(0));

        Assert.False(BasicPublish.TryDecodeArguments(arguments, out _, out var error));

        Assert.Equal(ReplyCode.SyntaxError, error.Code);
        Assert.Contains("'routing-key'", error.Reason, StringComparison.Ordinal);
        Assert.Contains("not valid UTF-8", error.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void A_property_that_is_not_utf8_makes_the_content_header_a_syntax_error()
    {
        // Basic class, weight 0, body size 0, only content-type present.
        byte[] payload = Concat(Hex("003C 0000 0000000000000000 8000"), [2, 0xC3, 0x28]);

        Assert.False(ContentHeader.TryDecode(payload, out _, out var error));

        Assert.Equal(ReplyCode.SyntaxError, error.Code);
        Assert.Contains("'content-type'", error.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Valid_utf8_of_every_width_up_to_255_bytes_still_decodes_byte_for_byte()
    {
        var key = Encoding.UTF8.GetBytes(string.Concat(Enumerable.Repeat("aé€😀", 25)) + "\0");
        Assert.True(key.Length <= ShortString.MaxLength);
        byte[] arguments = Concat(Hex("0000"), ShortStr(""), [(byte)key.Length, .. key], Octet(0));

        Assert.True(BasicPublish.TryDecodeArguments(arguments, out var publish, out var error), error.Reason);

        Assert.Equal(key, publish.RoutingKey.Span.ToArray());
        Assert.Equal(key, Encoding.UTF8.GetBytes(publish.RoutingKey.ToString()));
    }
}
