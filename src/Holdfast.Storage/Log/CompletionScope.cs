namespace Holdfast.Storage.Log;

/// <summary>
/// The thread-pool item that completes one write's or fsync's appends (<see cref="AppendWaiter.CompleteAll"/>)
/// runs their continuations inline; work they defer here runs once, after the last of them, on the
/// same item. One confirm frame per group commit, instead of one per append or one more thread hop.
/// </summary>
internal static class CompletionScope
{
    [ThreadStatic]
    private static List<(Action<object?> Callback, object? State)>? t_deferred;

    [ThreadStatic]
    private static bool t_active;

    public static bool TryDefer(Action<object?> callback, object? state)
    {
        if (!t_active)
        {
            return false;
        }

        (t_deferred ??= []).Add((callback, state));
        return true;
    }

    public static void Run<T>(T argument, Action<T> complete)
    {
        t_active = true;
        try
        {
            complete(argument);
        }
        finally
        {
            t_active = false;
        }

        if (t_deferred is not { Count: > 0 } deferred)
        {
            return;
        }

        // Copied out first: a callback may complete more appends and defer again, into a fresh scope.
        var run = deferred.ToArray();
        deferred.Clear();
        List<Exception>? failures = null;
        foreach (var (callback, state) in run)
        {
            // Every callback runs even if one throws: a skipped one could be a confirm never sent.
            try
            {
                callback(state);
            }
#pragma warning disable CA1031 // Collected and rethrown below, after the others ran.
            catch (Exception ex)
#pragma warning restore CA1031
            {
                (failures ??= []).Add(ex);
            }
        }

        if (failures is not null)
        {
            throw new AggregateException(failures);
        }
    }
}
