using BenchmarkDotNet.Attributes;
using Holdfast.Storage.Log;

namespace Holdfast.Benchmarks;

/// <summary>
/// Encoding one commit-log record: header, CRC-32C over header and payload, zeroed padding.
/// <see cref="Seal"/> is what an append does (the payload is already copied into the pending
/// buffer); <see cref="Write"/> adds that copy. Both must allocate nothing.
/// </summary>
[MemoryDiagnoser]
public class RecordEncodeBenchmarks
{
    private const long Position = 1L << 30;
    private byte[] _payload = [];
    private byte[] _record = [];

    [Params(16, 1024, 65536)]
    public int PayloadBytes { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _payload = new byte[PayloadBytes];
        new Random(1).NextBytes(_payload);
        _record = new byte[RecordFormat.SizeOnDisk(PayloadBytes)];
        _payload.CopyTo(_record.AsSpan(RecordFormat.HeaderSize));
    }

    [Benchmark]
    public int Write() => RecordFormat.Write(_record, RecordType.Message, RecordFlags.None, _payload, Position);

    [Benchmark]
    public void Seal() => RecordFormat.Seal(_record, RecordType.Message, RecordFlags.None, PayloadBytes, Position);
}
