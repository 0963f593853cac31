namespace Holdfast.Amqp.Codec;

/// <summary>
/// A protocol error found in a peer's input: the reply code to close with, a reason a person can
/// act on, and the class and method being decoded (zero when the error is below method level) for
/// the class-id and method-id fields of connection.close.
/// </summary>
public readonly record struct AmqpError(ReplyCode Code, string Reason, ushort ClassId = 0, ushort MethodId = 0)
{
    /// <summary>The reply-text RabbitMQ would send: the code's name, then the reason.</summary>
    public string ReplyText => $"{ReplyCodes.Name(Code)} - {Reason}";

    public override string ToString() => $"{(ushort)Code} {ReplyText}";
}
