namespace Holdfast.Testing;

/// <summary>Polls a condition until it holds or a deadline passes (NATS's <c>checkFor</c>): for effects no task can be awaited on.</summary>
public static class Eventually
{
    public static async Task TrueAsync(Func<bool> condition, TimeSpan timeout, string what)
    {
        ArgumentNullException.ThrowIfNull(condition);
        var deadline = DateTime.UtcNow + timeout;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"Not within {timeout.TotalSeconds:F1} s: {what}");
            }

            await Task.Delay(10);
        }
    }
}
