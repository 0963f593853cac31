using Holdfast.Amqp.Codec;

namespace Holdfast.Amqp.Channels;

/// <summary>
/// The last name a channel decoded in one place (a publish's exchange, its routing key), kept with
/// its bytes: a publisher that sends to the same exchange and key gets the same string back instead
/// of a new one per message.
/// </summary>
internal sealed class RecentName
{
    private byte[] _utf8 = [];
    private string _value = string.Empty;

    public string Get(ShortString name)
    {
        if (!name.EqualsUtf8(_utf8))
        {
            _utf8 = name.Span.ToArray();
            _value = name.ToString();
        }

        return _value;
    }
}
