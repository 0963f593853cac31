using System.Buffers;
using System.IO.Pipelines;
using BenchmarkDotNet.Attributes;
using Holdfast.Amqp.Channels;
using Holdfast.Amqp.Codec;
using Holdfast.Amqp.Connection;
using Holdfast.Amqp.Mapping;
using Holdfast.Broker;
using Holdfast.Broker.Messages;
using Holdfast.Broker.Sessions;
using Holdfast.Storage;

namespace Holdfast.Benchmarks;

/// <summary>
/// Turning a publish's method, header and body frames into a <see cref="BrokerMessage"/>, as the
/// connection hands them to the broker's channel handler: basic.publish arguments, then the decoded
/// content header (properties mapped to the broker's form, body buffer sized), then the 1 KiB body
/// frame (copied into the buffer and published). The handler is the real one, built as the
/// connection's factory builds it, over an outbox nobody reads; only the socket and the connection's
/// frame bookkeeping are missing.
/// </summary>
/// <remarks>
/// The message is published to amq.direct with no binding for its key, so it is dropped unroutable
/// and the queue does not grow across millions of invocations. <see cref="PublishPrebuilt"/> is that
/// broker-side publish alone, with a message built once: <c>AssembleAndPublish</c> minus it is the
/// AMQP door's share. The pieces (<see cref="DecodeContentHeader"/>, <see cref="MapProperties"/>)
/// are there to say where that share goes.
/// </remarks>
[MemoryDiagnoser]
public class ContentAssemblyBenchmarks
{
    private const int BodyBytes = 1024;

    private MessageStore? _store;
    private MessageBroker? _broker;
    private IAmqpChannelHandler? _handler;
    private BrokerChannel? _channel;
    private Pipe? _output;
    private byte[] _publishArguments = [];
    private byte[] _headerPayload = [];
    private ContentHeader _header;
    private ReadOnlySequence<byte> _body;
    private BrokerMessage _prebuilt = null!;

    /// <summary>Application headers in the content header: none, or a few text and integer values.</summary>
    [Params(0, 3)]
    public int HeaderCount { get; set; }

    [GlobalSetup]
    public async Task Setup()
    {
        _store = await MessageStore.OpenAsync(new StoreOptions { Device = new DiscardingDevice(), AutoCompact = false, DefaultFlushPolicy = FlushPolicy.Async });
        _broker = await MessageBroker.OpenAsync(_store);

        // The outbox is never run: a publish without confirms or mandatory writes nothing to it.
        _output = new Pipe();
        var outbox = new FrameOutbox(_output.Writer, TimeProvider.System, 1 << 20);
        var context = new AmqpChannelContext(1, PublishWire.Channel, "guest", "/", null, new ChannelOutput(outbox, PublishWire.Channel));
        _handler = new BrokerChannelHandlerFactory(_broker).Create(context);
        _channel = _broker.OpenChannel("/", 2, "guest", new DiscardingEvents());

        var method = PublishWire.Method("amq.direct", "orders.eu.created");
        var properties = PublishWire.Properties(HeaderCount);
        _publishArguments = PublishWire.MethodArguments(method);
        _headerPayload = PublishWire.HeaderPayload(properties, BodyBytes);
        if (!ContentHeader.TryDecode(_headerPayload, out _header, out var error))
        {
            throw new InvalidOperationException(error.Reason);
        }

        var body = new byte[BodyBytes];
        new Random(1).NextBytes(body);
        _body = new ReadOnlySequence<byte>(body);
        _prebuilt = new BrokerMessage("amq.direct", "orders.eu.created", PropertiesMapper.ToBroker(_header.Properties), body);

        // A verdict other than Continue would mean the handler closed the channel and every later
        // invocation measured an error path.
        if (await AssembleAndPublish() != 3)
        {
            throw new InvalidOperationException("The publish was not accepted.");
        }
    }

    [GlobalCleanup]
    public async Task Cleanup()
    {
        if (_handler is not null)
        {
            await _handler.DisposeAsync();
        }

        _channel?.Close();
        _broker?.Dispose();
        if (_store is not null)
        {
            await _store.DisposeAsync();
        }

        if (_output is not null)
        {
            await _output.Reader.CompleteAsync();
            await _output.Writer.CompleteAsync();
        }
    }

    /// <summary>Content header payload to <see cref="ContentHeader"/> (the headers table, if any, is copied out of the frame).</summary>
    [Benchmark]
    public ulong DecodeContentHeader() =>
        ContentHeader.TryDecode(_headerPayload, out var header, out _) ? header.BodySize : 0;

    /// <summary>Decoded AMQP properties to <see cref="MessageProperties"/>, as the handler does on every content header.</summary>
    [Benchmark]
    public MessageProperties MapProperties() => PropertiesMapper.ToBroker(_header.Properties);

    /// <summary>Method, header, body through the channel handler into the broker: what the connection does per publish after cutting frames.</summary>
    [Benchmark(Baseline = true)]
    public async ValueTask<int> AssembleAndPublish()
    {
        int accepted = 0;
        var handler = _handler!;
        if ((await handler.HandleMethodAsync(AmqpMethodId.BasicPublish, _publishArguments, CancellationToken.None)).Kind == ChannelVerdictKind.Continue)
        {
            accepted++;
        }

        // The connection decodes the header frame, then passes the struct on.
        if (ContentHeader.TryDecode(_headerPayload, out var header, out _)
            && (await handler.HandleContentHeaderAsync(header, CancellationToken.None)).Kind == ChannelVerdictKind.Continue)
        {
            accepted++;
        }

        if ((await handler.HandleContentBodyAsync(_body, isLast: true, CancellationToken.None)).Kind == ChannelVerdictKind.Continue)
        {
            accepted++;
        }

        return accepted;
    }

    /// <summary>The broker's publish of an already-built message (same route, same properties): the part of AssembleAndPublish that is not the AMQP door.</summary>
    [Benchmark]
    public int PublishPrebuilt()
    {
        _channel!.Publish(_prebuilt, mandatory: false);
        return _prebuilt.Body.Length;
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
