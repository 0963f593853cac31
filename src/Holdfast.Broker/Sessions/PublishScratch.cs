using System.Buffers;
using Holdfast.Broker.Queues;
using Holdfast.Broker.Routing;
using Holdfast.Storage;

namespace Holdfast.Broker.Sessions;

/// <summary>Reusable space for one publisher's routing and encoding, so a warm publish allocates little.</summary>
internal sealed class PublishScratch
{
    private long[] _seqs = new long[4];

    public RouteResult Route { get; } = new();

    public List<MessageQueue> Targets { get; } = [];

    public List<StoredQueue> StoredTargets { get; } = [];

    /// <summary>Per target, the index its copy goes to (null: memory only).</summary>
    public List<StoredQueue?> Indexes { get; } = [];

    /// <summary>The stored head of the message being published (everything but its body's bytes).</summary>
    public ArrayBufferWriter<byte> Encoded { get; } = new(256);

    /// <summary>Whether the last publish with a <see cref="MovedFrom"/> acks its source in the store itself, once written.</summary>
    public bool SourceAcked { get; set; }

    public Span<long> Seqs(int count)
    {
        if (_seqs.Length < count)
        {
            _seqs = new long[Math.Max(count, _seqs.Length * 2)];
        }

        return _seqs.AsSpan(0, count);
    }
}
