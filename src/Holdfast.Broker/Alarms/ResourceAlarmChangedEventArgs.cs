namespace Holdfast.Broker.Alarms;

/// <summary>The alarm's new state: a reason while raised, null once cleared.</summary>
public sealed class ResourceAlarmChangedEventArgs(string? reason) : EventArgs
{
    public string? Reason { get; } = reason;

    public bool IsAlarmed => Reason is not null;
}
