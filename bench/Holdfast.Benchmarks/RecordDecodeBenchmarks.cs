using BenchmarkDotNet.Attributes;
using Holdfast.Storage.Log;

namespace Holdfast.Benchmarks;

/// <summary>
/// Verifying one record as recovery and reads do: plausibility of the header, then the CRC over
/// header and payload. Recovery's speed per byte is bounded by <see cref="TryDecode"/>.
/// </summary>
[MemoryDiagnoser]
public class RecordDecodeBenchmarks
{
    private const int MaxPayload = 256 * 1024 * 1024;
    private const long Position = 1L << 30;
    private byte[] _record = [];

    [Params(16, 1024, 65536)]
    public int PayloadBytes { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var payload = new byte[PayloadBytes];
        new Random(1).NextBytes(payload);
        _record = new byte[RecordFormat.SizeOnDisk(PayloadBytes)];
        RecordFormat.Write(_record, RecordType.Message, RecordFlags.None, payload, Position);
    }

    [Benchmark]
    public int TryDecode() => RecordFormat.TryDecode(_record, MaxPayload, Position, out var view) ? view.PayloadLength : -1;

    [Benchmark]
    public int PeekPayloadLength() => RecordFormat.PeekPayloadLength(_record, MaxPayload, out _);
}
