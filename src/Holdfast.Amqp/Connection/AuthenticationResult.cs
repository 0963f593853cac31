namespace Holdfast.Amqp.Connection;

/// <summary>
/// An authenticator's answer. <see cref="Reason"/> is for the broker's log: like RabbitMQ, the
/// client only learns that its login was refused, not whether the user exists.
/// </summary>
public readonly record struct AuthenticationResult(bool Succeeded, string Reason)
{
    public static AuthenticationResult Success { get; } = new(true, string.Empty);

    public static AuthenticationResult Refused(string reason) => new(false, reason);
}
