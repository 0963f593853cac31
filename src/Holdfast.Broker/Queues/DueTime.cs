namespace Holdfast.Broker.Queues;

/// <summary>
/// Moments the broker's timers wait for, as Unix milliseconds on its clock. A TTL, a queue's expiry or an x-delay may
/// ask for longer than a timer can wait (uint.MaxValue - 1 ms, about 49.7 days; a TimeProvider's timer throws beyond
/// it): such a timer waits its longest, and its handler, which compares the clock with what is due, arms it again.
/// </summary>
internal static class DueTime
{
    private const long LongestTimerMs = uint.MaxValue - 1L;

    /// <summary>
    /// <paramref name="delayMs"/> (not negative) after <paramref name="startMs"/> (not negative), or long.MaxValue, which
    /// never comes, when the sum is past a long: wrapped round, it would be a moment long gone.
    /// </summary>
    public static long After(long startMs, long delayMs) => delayMs > long.MaxValue - startMs ? long.MaxValue : startMs + delayMs;

    /// <summary>Arms <paramref name="timer"/> to fire once at <paramref name="dueMs"/>, or after its longest wait if that is sooner.</summary>
    public static void Arm(ITimer timer, TimeProvider time, long dueMs) =>
        timer.Change(TimeSpan.FromMilliseconds(Math.Clamp(dueMs - time.GetUtcNow().ToUnixTimeMilliseconds(), 0, LongestTimerMs)), Timeout.InfiniteTimeSpan);
}
