using BenchmarkDotNet.Attributes;
using Holdfast.Broker;
using Holdfast.Broker.Messages;
using Holdfast.Broker.Sessions;
using Holdfast.Broker.Topology;
using Holdfast.Storage;

namespace Holdfast.Benchmarks;

/// <summary>
/// A message through a queue with no wire format around it: publish (route, enqueue) then basic.get
/// and ack, for a transient message in a non-durable queue (memory only) and a persistent one in a
/// durable queue (one store append and one ack record, on a device that discards bytes). The
/// per-message allocations here are the broker's own, before any protocol mapping.
/// </summary>
[MemoryDiagnoser]
public class QueueBenchmarks
{
    private MessageStore? _store;
    private MessageBroker? _broker;
    private BrokerChannel? _channel;
    private BrokerMessage _transient = null!;
    private BrokerMessage _persistent = null!;

    [GlobalSetup]
    public async Task Setup()
    {
        _store = await MessageStore.OpenAsync(new StoreOptions { Device = new DiscardingDevice(), AutoCompact = false, DefaultFlushPolicy = FlushPolicy.Async });
        _broker = await MessageBroker.OpenAsync(_store);
        var vhost = _broker.GetVirtualHost("/");
        await vhost.DeclareQueueAsync(new QueueDefinition("memory", false, false, false, TopologyArguments.Empty), 1, passive: false);
        await vhost.DeclareQueueAsync(new QueueDefinition("durable", true, false, false, TopologyArguments.Empty), 1, passive: false);
        _channel = _broker.OpenChannel("/", 1, "guest", new DiscardingEvents());
        var body = new byte[1024];
        _transient = new BrokerMessage(string.Empty, "memory", MessageProperties.Empty, body);
        _persistent = new BrokerMessage(string.Empty, "durable", new MessageProperties { DeliveryMode = 2 }, body);
    }

    [GlobalCleanup]
    public async Task Cleanup()
    {
        _broker?.Dispose();
        if (_store is not null)
        {
            await _store.DisposeAsync();
        }
    }

    [Benchmark]
    public ulong TransientPublishGetAck() => PublishGetAck(_transient, "memory");

    [Benchmark]
    public ulong PersistentPublishGetAck() => PublishGetAck(_persistent, "durable");

    private ulong PublishGetAck(BrokerMessage message, string queue)
    {
        _channel!.Publish(message, mandatory: false);
        var got = _channel.Get(queue, noAck: false)!;
        _channel.Ack(got.DeliveryTag, multiple: false);
        return got.DeliveryTag;
    }

    private sealed class DiscardingEvents : IChannelEvents
    {
        public bool IsCongested => false;

        public void Deliver(in Delivery delivery)
        {
        }

        public void ReturnMessage(BrokerMessage message, ReturnReason reason)
        {
        }

        public void Confirm(ulong sequence, bool multiple, bool ack)
        {
        }

        public void ConsumerCancelled(string consumerTag)
        {
        }

        public void Fail(BrokerException reason)
        {
        }
    }
}
