namespace Holdfast.Testing;

/// <summary>
/// What a <see cref="FaultyDevice"/> was advised to drop from its (modelled) page cache: calls, bytes, and the
/// calls whose range held writes not yet fsynced, which a kernel would have kept.
/// </summary>
public readonly record struct CacheDrops(long Calls, long Bytes, long OverUnsyncedWrites);
