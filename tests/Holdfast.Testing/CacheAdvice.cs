namespace Holdfast.Testing;

/// <summary>
/// One kind of page-cache advice a <see cref="FaultyDevice"/> was given (to drop cached bytes, or to start writing
/// dirty ones back): calls, bytes, and the calls whose range held writes not yet fsynced.
/// </summary>
public readonly record struct CacheAdvice(long Calls, long Bytes, long OverUnsyncedWrites);
