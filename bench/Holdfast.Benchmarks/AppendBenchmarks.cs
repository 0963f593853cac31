using BenchmarkDotNet.Attributes;
using Holdfast.Storage;

namespace Holdfast.Benchmarks;

/// <summary>
/// The whole append path of <see cref="MessageStore"/> on a device that discards bytes: lock, copy
/// into the pending buffer, CRC, waiter, the writer thread's write and apply, completion on the
/// thread pool. Allocations are counted across all threads, so the writer thread's count too.
/// <para>
/// Each invocation appends a batch and then acks it in one record, so the queue stays empty and
/// its ring buffer never grows: what is left is the per-record cost (the ack is shared by the batch).
/// <see cref="Pipelined"/> keeps the whole batch in flight, as a publisher with confirms does;
/// <see cref="OneAtATime"/> awaits each append before the next, a round trip through the writer per record.
/// </para>
/// </summary>
[MemoryDiagnoser]
public class AppendBenchmarks
{
    private const int Batch = 1024;
    private readonly ValueTask[] _pending = new ValueTask[Batch];
    private readonly long[] _seqs = new long[Batch];
    private MessageStore? _store;
    private StoredQueue[] _queues = [];
    private byte[] _payload = [];
    private FlushPolicy _policy = FlushPolicy.Sync;

    [Params(16, 1024)]
    public int PayloadBytes { get; set; }

    [Params("sync", "async")]
    public string Policy { get; set; } = "sync";

    [GlobalSetup]
    public async Task Setup()
    {
        _policy = FlushPolicy.Parse(Policy, TimeSpan.FromMilliseconds(200), 4L << 20);
        _payload = new byte[PayloadBytes];
        new Random(1).NextBytes(_payload);
        _store = await MessageStore.OpenAsync(new StoreOptions { Device = new DiscardingDevice(), AutoCompact = false });
        _queues = [await _store.DeclareQueueAsync("bench")];
    }

    [GlobalCleanup]
    public async Task Cleanup()
    {
        if (_store is not null)
        {
            await _store.DisposeAsync();
        }
    }

    [Benchmark(OperationsPerInvoke = Batch)]
    public async Task Pipelined()
    {
        var store = _store!;
        for (var i = 0; i < Batch; i++)
        {
#pragma warning disable CA2012 // The batch is held in flight on purpose; each slot is awaited exactly once below.
            _pending[i] = Append(store, i);
#pragma warning restore CA2012
        }

        for (var i = 0; i < Batch; i++)
        {
            await _pending[i];
        }

        await store.AckAsync(_queues[0], _seqs, _policy);
    }

    [Benchmark(OperationsPerInvoke = Batch)]
    public async Task OneAtATime()
    {
        var store = _store!;
        for (var i = 0; i < Batch; i++)
        {
            await Append(store, i);
        }

        await store.AckAsync(_queues[0], _seqs, _policy);
    }

    private ValueTask Append(MessageStore store, int i) => store.AppendAsync(_queues, _payload, _seqs.AsSpan(i, 1), _policy);
}
