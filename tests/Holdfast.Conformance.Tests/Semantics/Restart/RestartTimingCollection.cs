namespace Holdfast.Conformance.Tests.Semantics.Restart;

/// <summary>
/// The tests that measure real-time delays (TTL, x-delay, retry back-off, x-expires) run alone, after the parallel
/// tests: on a small machine other in-process brokers starting and stopping make timers hundreds of ms late.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class RestartTimingCollection
{
    public const string Name = "Restart semantics timing";
}
