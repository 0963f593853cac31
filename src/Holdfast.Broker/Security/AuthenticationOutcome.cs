namespace Holdfast.Broker.Security;

/// <summary>
/// The answer to a login. <see cref="Reason"/> is written for the broker's log; a front door tells
/// the client only that it was refused, so that the reply does not reveal which users exist.
/// </summary>
public readonly record struct AuthenticationOutcome(bool Succeeded, string Reason)
{
    public static AuthenticationOutcome Success { get; } = new(true, string.Empty);

    public static AuthenticationOutcome Refused(string reason) => new(false, reason);
}
