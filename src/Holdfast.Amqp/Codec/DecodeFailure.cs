namespace Holdfast.Amqp.Codec;

/// <summary>
/// What went wrong while decoding, collected where it is found and turned into an
/// <see cref="AmqpError"/> by whoever knows the context (which method, which frame). Strings are
/// built only on failure, so the success path allocates nothing.
/// </summary>
internal struct DecodeFailure
{
    public ReplyCode Code;

    /// <summary>The spec name of the field being read ("routing-key"), if any.</summary>
    public string? Field;

    public string? Detail;

    public readonly bool HasFailed => Detail is not null;

    /// <summary>Records the first failure; later ones are consequences of it.</summary>
    public bool Fail(ReplyCode code, string field, string detail)
    {
        if (Detail is null)
        {
            Code = code;
            Field = field;
            Detail = detail;
        }

        return false;
    }

    public readonly AmqpError ToError(string context, ushort classId = 0, ushort methodId = 0)
    {
        string detail = Detail ?? "unknown failure";
        string reason = Field is null ? $"{context}: {detail}" : $"{context}: field '{Field}' {detail}";
        return new AmqpError(Code == 0 ? ReplyCode.FrameError : Code, reason, classId, methodId);
    }
}
