using BenchmarkDotNet.Attributes;
using Holdfast.Storage.Queues;

namespace Holdfast.Benchmarks;

/// <summary>
/// One 16-byte queue index entry, written at checkpoints and read back at start-up (a clean open
/// reads one per live message, so <see cref="TryRead"/> bounds the checkpointed start).
/// </summary>
[MemoryDiagnoser]
public class IndexEntryBenchmarks
{
    private readonly byte[] _entry = new byte[IndexEntryFormat.Size];
    private readonly long _seq = 123_456;

    [GlobalSetup]
    public void Setup() => IndexEntryFormat.Write(_entry, _seq, position: 987_654_321, length: 1056);

    [Benchmark]
    public void Write() => IndexEntryFormat.Write(_entry, _seq, position: 987_654_321, length: 1056);

    [Benchmark]
    public bool TryRead() => IndexEntryFormat.TryRead(_entry, _seq, out _, out _);
}
