namespace Holdfast.Broker.Routing;

/// <summary>
/// The queues a publish reaches, and the scratch space used to find them. Reused by one publisher
/// (a channel) for every message so that routing allocates nothing once warm.
/// </summary>
public sealed class RouteResult
{
    private readonly HashSet<string> _queueSet = new(StringComparer.Ordinal);
    private readonly Stack<List<Destination>> _scratch = new();

    /// <summary>Distinct queue names in the order first reached.</summary>
    public List<string> Queues { get; } = [];

    internal HashSet<string> VisitedExchanges { get; } = new(StringComparer.Ordinal);

    internal void Clear()
    {
        Queues.Clear();
        _queueSet.Clear();
        VisitedExchanges.Clear();
    }

    internal void AddQueue(string name)
    {
        if (_queueSet.Add(name))
        {
            Queues.Add(name);
        }
    }

    internal List<Destination> Scratch() => _scratch.TryPop(out var list) ? list : [];

    internal void Release(List<Destination> list)
    {
        list.Clear();
        _scratch.Push(list);
    }
}
