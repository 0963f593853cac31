namespace Holdfast.Amqp.Codec;

/// <summary>
/// What every generated method struct can do: say which method it is and write its arguments.
/// Framing code takes methods as a constrained generic (<c>where T : struct, IAmqpMethod</c>) so the
/// hot path neither boxes nor dispatches virtually; the interface type itself is for the general
/// decoder, tests and logs.
/// </summary>
public interface IAmqpMethod
{
    AmqpMethodId Id { get; }

    /// <summary>Exact length of the encoded arguments (the method frame payload after the class and method ids).</summary>
    int GetArgumentsByteCount();

    /// <summary>Writes the arguments and returns the bytes written, always <see cref="GetArgumentsByteCount"/>.</summary>
    int WriteArguments(Span<byte> destination);
}
