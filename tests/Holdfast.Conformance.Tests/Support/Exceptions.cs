namespace Holdfast.Conformance.Tests.Support;

internal static class Exceptions
{
    /// <summary>The first <typeparamref name="T"/> in an exception's chain (the client wraps handshake failures in BrokerUnreachableException).</summary>
    public static T? Find<T>(Exception? exception)
        where T : Exception
    {
        while (exception is not null)
        {
            if (exception is T found)
            {
                return found;
            }

            if (exception is AggregateException aggregate)
            {
                foreach (var inner in aggregate.InnerExceptions)
                {
                    if (Find<T>(inner) is { } nested)
                    {
                        return nested;
                    }
                }
            }

            exception = exception.InnerException;
        }

        return null;
    }
}
