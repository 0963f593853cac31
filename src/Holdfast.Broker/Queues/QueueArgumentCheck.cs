namespace Holdfast.Broker.Queues;

/// <summary>Whether a set of queue arguments is one a queue can run with, and the most of it that is.</summary>
internal static class QueueArgumentCheck
{
    /// <summary>True when a queue accepts <paramref name="arguments"/>; otherwise the refusal's text.</summary>
    public static bool IsUsable(IReadOnlyDictionary<string, object?> arguments, QueueContext where, out string? error)
    {
        try
        {
            _ = QueueSettings.From(arguments, where);
            _ = QueueLimits.From(arguments, where);
            error = null;
            return true;
        }
        catch (BrokerException ex)
        {
            error = ex.Message;
            return false;
        }
    }

    /// <summary>
    /// The arguments a queue can run with, keeping each one that still leaves the set usable. In name order, so an
    /// argument that needs another (a dead-letter routing key needs its exchange) comes after it.
    /// </summary>
    public static Dictionary<string, object?> UsableSubset(IReadOnlyDictionary<string, object?> arguments, QueueContext where)
    {
        var usable = new Dictionary<string, object?>(StringComparer.Ordinal);
        foreach (var (key, value) in arguments.OrderBy(a => a.Key, StringComparer.Ordinal))
        {
            usable[key] = value;
            if (!IsUsable(usable, where, out _))
            {
                usable.Remove(key);
            }
        }

        return usable;
    }
}
