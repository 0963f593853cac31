using System.Buffers;
using Holdfast.Amqp.Codec;
using Holdfast.Amqp.Framing;
using Holdfast.Amqp.Mapping;
using Holdfast.Broker;
using Holdfast.Broker.Messages;
using Holdfast.Broker.Routing;
using Holdfast.Broker.Sessions;
using Holdfast.Broker.Topology;

namespace Holdfast.Amqp.Channels;

/// <summary>
/// Translates one AMQP channel into calls on a <see cref="BrokerChannel"/>, and the broker's events
/// (deliveries, returns, confirms, cancels) back into frames. No broker logic lives here.
/// </summary>
internal sealed class BrokerChannelHandler : IAmqpChannelHandler, IChannelEvents
{
    private readonly AmqpChannelContext _context;
    private readonly BrokerChannelOptions _options;
    private readonly BrokerChannel _channel;
    private readonly Action _resume;
    private readonly Action<string> _sendConsumeOk;
    private readonly Action<GetResult> _sendGetOk;
    private readonly RecentName _recentExchange = new();
    private readonly RecentName _recentRoutingKey = new();

    private static readonly Action<string> IgnoreTag = static _ => { };

    private const int InitialBodyBytes = 256 * 1024;

    // The publish in progress: basic.publish, then its header, then body frames.
    private string _publishExchange = string.Empty;
    private string _publishRoutingKey = string.Empty;
    private bool _publishMandatory;

    // Set by basic.ack, cleared by AcksHandled: the deliveries the acks made room for are still to be offered.
    private bool _dispatchOwed;
    private MessageProperties _publishProperties = MessageProperties.Empty;
    private byte[] _publishBody = [];
    private int _publishReceived;
    private int _publishSize;

    public BrokerChannelHandler(MessageBroker broker, AmqpChannelContext context, BrokerChannelOptions options)
    {
        _context = context;
        _options = options;
        _channel = broker.OpenChannel(context.VirtualHost, context.ConnectionId, context.UserName, this);
        _resume = _channel.ResumeDeliveries;
        _sendConsumeOk = tag => Output.TrySendMethod(new BasicConsumeOk(tag));
        _sendGetOk = got => SendContent(
            new BasicGetOk(got.DeliveryTag, got.Redelivered, got.Message.Exchange, got.Message.RoutingKey, (uint)Math.Min(got.MessageCount, uint.MaxValue)),
            got.Message,
            "the message stays in its queue for a basic.get on a connection with a larger frame-max");
        context.Output.AddDrainedHandler(_resume);
    }

    private ChannelOutput Output => _context.Output;

    public async ValueTask<ChannelVerdict> HandleMethodAsync(AmqpMethodId method, ReadOnlyMemory<byte> arguments, CancellationToken cancellationToken)
    {
        try
        {
            return await DispatchAsync(method, arguments, cancellationToken).ConfigureAwait(false);
        }
        catch (BrokerException ex)
        {
            return BrokerErrorMapping.ToVerdict(ex, method);
        }
    }

    public ValueTask<ChannelVerdict> HandleContentHeaderAsync(ContentHeader header, CancellationToken cancellationToken)
    {
        // Compared unsigned: a claimed size of 2^63 or more is no negative number, and must not pass.
        if (header.BodySize > (ulong)_options.MaxMessageBytes)
        {
            return ValueTask.FromResult(ChannelVerdict.CloseChannel(new AmqpError(
                ReplyCode.PreconditionFailed,
                $"message size {header.BodySize} is larger than configured max size {_options.MaxMessageBytes}",
                60,
                40)));
        }

        _publishProperties = PropertiesMapper.ToBroker(header.Properties);
        _publishSize = (int)header.BodySize;

        // The announced size is only a claim: memory grows with the bytes that actually arrive, so a
        // client announcing 128 MiB on every channel and sending nothing costs next to nothing.
        _publishBody = _publishSize == 0 ? [] : GC.AllocateUninitializedArray<byte>(Math.Min(_publishSize, InitialBodyBytes));
        _publishReceived = 0;
        return header.BodySize == 0 ? ValueTask.FromResult(Publish()) : ValueTask.FromResult(ChannelVerdict.Continue);
    }

    public ValueTask<ChannelVerdict> HandleContentBodyAsync(ReadOnlySequence<byte> body, bool isLast, CancellationToken cancellationToken)
    {
        // The connection has checked that the frames add up to the header's size, no more.
        var needed = _publishReceived + (int)body.Length;
        if (needed > _publishBody.Length)
        {
            var grown = GC.AllocateUninitializedArray<byte>((int)Math.Min(_publishSize, Math.Max(needed, 2L * _publishBody.Length)));
            _publishBody.AsSpan(0, _publishReceived).CopyTo(grown);
            _publishBody = grown;
        }

        body.CopyTo(_publishBody.AsSpan(_publishReceived));
        _publishReceived += (int)body.Length;
        return ValueTask.FromResult(isLast ? Publish() : ChannelVerdict.Continue);
    }

    public void AcksHandled()
    {
        if (_dispatchOwed)
        {
            _dispatchOwed = false;
            _channel.ResumeDeliveries();
        }
    }

    public ValueTask DisposeAsync()
    {
        Output.RemoveDrainedHandler(_resume);
        Output.Close();
        _channel.Close();
        return ValueTask.CompletedTask;
    }

    // ---- broker events ----

    public bool IsCongested => Output.IsCongested;

    public void Deliver(in Delivery delivery)
    {
        var message = delivery.Message;
        SendContent(
            new BasicDeliver(delivery.ConsumerTag, delivery.DeliveryTag, delivery.Redelivered, message.Exchange, message.RoutingKey),
            message,
            "the message stays in its queue for a consumer with a larger frame-max");
    }

    public void Fail(BrokerException reason) => Output.RequestClose(BrokerErrorMapping.ToVerdict(reason, AmqpMethodId.BasicDeliver));

    public void ReturnMessage(BrokerMessage message, ReturnReason reason) =>
        SendContent(
            new BasicReturn((ushort)ReplyCode.NoRoute, "NO_ROUTE", message.Exchange, message.RoutingKey),
            message,
            "the unroutable mandatory message could not be returned");

    public void Confirm(ulong sequence, bool multiple, bool ack)
    {
        if (ack)
        {
            Output.TrySendMethod(new BasicAck(sequence, multiple));
        }
        else
        {
            Output.TrySendMethod(new BasicNack(sequence, multiple, Requeue: false));
        }
    }

    public void ConsumerCancelled(string consumerTag) => Output.TrySendMethod(new BasicCancel(consumerTag, Nowait: true));

    // ---- methods ----

    private async ValueTask<ChannelVerdict> DispatchAsync(AmqpMethodId method, ReadOnlyMemory<byte> arguments, CancellationToken cancellationToken)
    {
        AmqpError error;
        switch (method)
        {
            case AmqpMethodId.BasicPublish:
                {
                    if (!BasicPublish.TryDecodeArguments(arguments, out var publish, out error))
                    {
                        break;
                    }

                    if (publish.Immediate)
                    {
                        return ChannelVerdict.CloseConnection(new AmqpError(ReplyCode.NotImplemented, "immediate=true", 60, 40));
                    }

                    _publishExchange = _recentExchange.Get(publish.Exchange);
                    _publishRoutingKey = _recentRoutingKey.Get(publish.RoutingKey);
                    _publishMandatory = publish.Mandatory;
                    return ChannelVerdict.Continue;
                }

            case AmqpMethodId.BasicAck:
                {
                    if (!BasicAck.TryDecodeArguments(arguments, out var ack, out error))
                    {
                        break;
                    }

                    _dispatchOwed |= _channel.Ack(ack.DeliveryTag, ack.Multiple, dispatch: false);
                    return ChannelVerdict.Continue;
                }

            case AmqpMethodId.BasicNack:
                {
                    if (!BasicNack.TryDecodeArguments(arguments, out var nack, out error))
                    {
                        break;
                    }

                    _channel.Reject(nack.DeliveryTag, nack.Multiple, nack.Requeue);
                    return ChannelVerdict.Continue;
                }

            case AmqpMethodId.BasicReject:
                {
                    if (!BasicReject.TryDecodeArguments(arguments, out var reject, out error))
                    {
                        break;
                    }

                    _channel.Reject(reject.DeliveryTag, multiple: false, reject.Requeue);
                    return ChannelVerdict.Continue;
                }

            case AmqpMethodId.BasicGet:
                {
                    if (!BasicGet.TryDecodeArguments(arguments, out var get, out error))
                    {
                        break;
                    }

                    // get-ok goes out from inside the fetch, while the message is still the queue's to keep if it cannot.
                    if (_channel.Get(get.Queue.ToString(), get.NoAck, _sendGetOk) is null)
                    {
                        Output.TrySendMethod(new BasicGetEmpty(ShortString.Empty));
                    }

                    return ChannelVerdict.Continue;
                }

            case AmqpMethodId.BasicConsume:
                {
                    if (!BasicConsume.TryDecodeArguments(arguments, out var consume, out error))
                    {
                        break;
                    }

                    // Cached delegates: a lambda capturing nowait here would cost every method dispatch a closure.
                    _channel.Consume(consume.Queue.ToString(), consume.ConsumerTag.ToString(), consume.NoAck, consume.Exclusive, consume.Nowait ? IgnoreTag : _sendConsumeOk);
                    return ChannelVerdict.Continue;
                }

            case AmqpMethodId.BasicCancel:
                {
                    if (!BasicCancel.TryDecodeArguments(arguments, out var cancel, out error))
                    {
                        break;
                    }

                    _channel.Cancel(cancel.ConsumerTag.ToString());
                    if (!cancel.Nowait)
                    {
                        Output.TrySendMethod(new BasicCancelOk(cancel.ConsumerTag.Detach()));
                    }

                    return ChannelVerdict.Continue;
                }

            case AmqpMethodId.BasicQos:
                {
                    if (!BasicQos.TryDecodeArguments(arguments, out var qos, out error))
                    {
                        break;
                    }

                    _channel.SetPrefetch(qos.PrefetchSize, qos.PrefetchCount, qos.Global);
                    Output.TrySendMethod(default(BasicQosOk));
                    return ChannelVerdict.Continue;
                }

            case AmqpMethodId.BasicRecover:
            case AmqpMethodId.BasicRecoverAsync:
                {
                    if (!TryDecodeRecover(method, arguments, out var requeue, out error))
                    {
                        break;
                    }

                    if (!requeue)
                    {
                        // Redelivering to the original consumer only is something RabbitMQ never did; it
                        // closes the connection, and a client written against it expects nothing else.
                        return ChannelVerdict.CloseConnection(new AmqpError(
                            ReplyCode.NotImplemented,
                            "requeue=false",
                            AmqpMethodInfo.ClassIdOf(method),
                            AmqpMethodInfo.MethodIndexOf(method)));
                    }

                    // Only the synchronous form has a reply, which RabbitMQ sends before the redeliveries start.
                    if (method == AmqpMethodId.BasicRecover)
                    {
                        Output.TrySendMethod(default(BasicRecoverOk));
                    }

                    _channel.Recover();

                    return ChannelVerdict.Continue;
                }

            case AmqpMethodId.BasicCancelOk:
                // The client's answer to a cancel the broker sent: nothing to do.
                return ChannelVerdict.Continue;

            case AmqpMethodId.ConfirmSelect:
                {
                    if (!ConfirmSelect.TryDecodeArguments(arguments, out var select, out error))
                    {
                        break;
                    }

                    _channel.SelectConfirms();
                    if (!select.Nowait)
                    {
                        Output.TrySendMethod(default(ConfirmSelectOk));
                    }

                    return ChannelVerdict.Continue;
                }

            case AmqpMethodId.TxSelect:
                _channel.SelectTransactions();
                Output.TrySendMethod(default(TxSelectOk));
                return ChannelVerdict.Continue;

            case AmqpMethodId.TxCommit:
                await _channel.CommitAsync().ConfigureAwait(false);
                Output.TrySendMethod(default(TxCommitOk));
                return ChannelVerdict.Continue;

            case AmqpMethodId.TxRollback:
                _channel.Rollback();
                Output.TrySendMethod(default(TxRollbackOk));
                return ChannelVerdict.Continue;

            default:
                return await DispatchTopologyAsync(method, arguments, cancellationToken).ConfigureAwait(false);
        }

        return ChannelVerdict.CloseConnection(error);
    }

    private async ValueTask<ChannelVerdict> DispatchTopologyAsync(AmqpMethodId method, ReadOnlyMemory<byte> arguments, CancellationToken cancellationToken)
    {
        AmqpError error;
        switch (method)
        {
            case AmqpMethodId.ExchangeDeclare:
                {
                    if (!ExchangeDeclare.TryDecodeArguments(arguments, out var declare, out error))
                    {
                        break;
                    }

                    var type = declare.Type.ToString();
                    var declared = ArgumentsMapper.ToDictionary(declare.Arguments);
                    ExchangeKind kind = default;
                    var delayed = type == "x-delayed-message";
                    if (delayed && !declare.Passive && !TryParseKind(TopologyArguments.GetString(declared, "x-delayed-type") ?? string.Empty, out kind))
                    {
                        // The delayed-message plugin's refusal, word for word.
                        return ChannelVerdict.CloseChannel(new AmqpError(ReplyCode.PreconditionFailed, "Invalid argument, 'x-delayed-type' must be an existing exchange type", 40, 10));
                    }

                    if (!delayed && !declare.Passive && !TryParseKind(type, out kind))
                    {
                        // A channel error since RabbitMQ 3.13 (it was a hard 503 before).
                        return ChannelVerdict.CloseChannel(new AmqpError(ReplyCode.PreconditionFailed, $"unknown exchange type '{type}'", 40, 10));
                    }

                    var definition = new ExchangeDefinition(declare.Exchange.ToString(), kind, declare.Durable, declare.AutoDelete, declare.Internal, declared) { DelayedMessage = delayed };
                    await _channel.DeclareExchangeAsync(definition, declare.Passive, cancellationToken).ConfigureAwait(false);
                    Reply(declare.Nowait, default(ExchangeDeclareOk));
                    return ChannelVerdict.Continue;
                }

            case AmqpMethodId.ExchangeDelete:
                {
                    if (!ExchangeDelete.TryDecodeArguments(arguments, out var delete, out error))
                    {
                        break;
                    }

                    await _channel.DeleteExchangeAsync(delete.Exchange.ToString(), delete.IfUnused, cancellationToken).ConfigureAwait(false);
                    Reply(delete.Nowait, default(ExchangeDeleteOk));
                    return ChannelVerdict.Continue;
                }

            case AmqpMethodId.ExchangeBind:
                {
                    if (!ExchangeBind.TryDecodeArguments(arguments, out var bind, out error))
                    {
                        break;
                    }

                    await _channel.BindExchangeAsync(bind.Destination.ToString(), bind.Source.ToString(), bind.RoutingKey.ToString(), ArgumentsMapper.ToDictionary(bind.Arguments), cancellationToken).ConfigureAwait(false);
                    Reply(bind.Nowait, default(ExchangeBindOk));
                    return ChannelVerdict.Continue;
                }

            case AmqpMethodId.ExchangeUnbind:
                {
                    if (!ExchangeUnbind.TryDecodeArguments(arguments, out var unbind, out error))
                    {
                        break;
                    }

                    await _channel.UnbindExchangeAsync(unbind.Destination.ToString(), unbind.Source.ToString(), unbind.RoutingKey.ToString(), ArgumentsMapper.ToDictionary(unbind.Arguments), cancellationToken).ConfigureAwait(false);
                    Reply(unbind.Nowait, default(ExchangeUnbindOk));
                    return ChannelVerdict.Continue;
                }

            case AmqpMethodId.QueueDeclare:
                {
                    if (!QueueDeclare.TryDecodeArguments(arguments, out var declare, out error))
                    {
                        break;
                    }

                    var definition = new QueueDefinition(declare.Queue.ToString(), declare.Durable, declare.Exclusive, declare.AutoDelete, ArgumentsMapper.ToDictionary(declare.Arguments));
                    var result = await _channel.DeclareQueueAsync(definition, declare.Passive, cancellationToken).ConfigureAwait(false);
                    Reply(declare.Nowait, new QueueDeclareOk(result.Name, (uint)Math.Min(result.MessageCount, uint.MaxValue), (uint)result.ConsumerCount));
                    return ChannelVerdict.Continue;
                }

            case AmqpMethodId.QueueBind:
                {
                    if (!QueueBind.TryDecodeArguments(arguments, out var bind, out error))
                    {
                        break;
                    }

                    var queue = _channel.QueueName(bind.Queue.ToString());
                    var key = bind.RoutingKey.IsEmpty && bind.Queue.IsEmpty ? queue : bind.RoutingKey.ToString();
                    await _channel.BindQueueAsync(queue, bind.Exchange.ToString(), key, ArgumentsMapper.ToDictionary(bind.Arguments), cancellationToken).ConfigureAwait(false);
                    Reply(bind.Nowait, default(QueueBindOk));
                    return ChannelVerdict.Continue;
                }

            case AmqpMethodId.QueueUnbind:
                {
                    if (!QueueUnbind.TryDecodeArguments(arguments, out var unbind, out error))
                    {
                        break;
                    }

                    await _channel.UnbindQueueAsync(unbind.Queue.ToString(), unbind.Exchange.ToString(), unbind.RoutingKey.ToString(), ArgumentsMapper.ToDictionary(unbind.Arguments), cancellationToken).ConfigureAwait(false);
                    Output.TrySendMethod(default(QueueUnbindOk));
                    return ChannelVerdict.Continue;
                }

            case AmqpMethodId.QueuePurge:
                {
                    if (!QueuePurge.TryDecodeArguments(arguments, out var purge, out error))
                    {
                        break;
                    }

                    var purged = _channel.PurgeQueue(purge.Queue.ToString());
                    Reply(purge.Nowait, new QueuePurgeOk((uint)Math.Min(purged, uint.MaxValue)));
                    return ChannelVerdict.Continue;
                }

            case AmqpMethodId.QueueDelete:
                {
                    if (!QueueDelete.TryDecodeArguments(arguments, out var delete, out error))
                    {
                        break;
                    }

                    var count = await _channel.DeleteQueueAsync(delete.Queue.ToString(), delete.IfUnused, delete.IfEmpty, cancellationToken).ConfigureAwait(false);
                    Reply(delete.Nowait, new QueueDeleteOk((uint)Math.Min(count, uint.MaxValue)));
                    return ChannelVerdict.Continue;
                }

            default:
                return ChannelVerdict.CloseConnection(new AmqpError(
                    ReplyCode.CommandInvalid,
                    $"{AmqpMethodInfo.Name(method)} is sent by servers only",
                    AmqpMethodInfo.ClassIdOf(method),
                    AmqpMethodInfo.MethodIndexOf(method)));
        }

        return ChannelVerdict.CloseConnection(error);
    }

    private ChannelVerdict Publish()
    {
        var message = new BrokerMessage(_publishExchange, _publishRoutingKey, _publishProperties, _publishBody);
        _publishBody = [];
        _publishProperties = MessageProperties.Empty;
        try
        {
            _channel.Publish(message, _publishMandatory);
            return ChannelVerdict.Continue;
        }
        catch (BrokerException ex)
        {
            return BrokerErrorMapping.ToVerdict(ex, AmqpMethodId.BasicPublish);
        }
    }

    /// <summary>
    /// Sends a message as content. A header cannot be split across frames, and the publisher's connection may have
    /// allowed larger frames than this one (or the broker made the properties longer, as a direct reply-to name
    /// does): such a message cannot be sent here at all, which the broker hears as a 406 whose reason ends with
    /// <paramref name="outcome"/>. Nothing of it has been written then.
    /// </summary>
    private void SendContent<TMethod>(TMethod method, BrokerMessage message, string outcome)
        where TMethod : struct, IAmqpMethod
    {
        try
        {
            Output.TrySendContent(method, PropertiesMapper.ToAmqp(message.Properties), new ReadOnlySequence<byte>(message.Body));
        }
        catch (FrameTooLargeException ex) when (ex.FrameType == FrameType.Header)
        {
            throw new BrokerException(
                BrokerErrorKind.PreconditionFailed,
                $"message properties of {ex.PayloadLength} bytes do not fit in a frame of this connection's frame-max {ex.FrameMax}; {outcome}",
                ex);
        }
    }

    private static bool TryDecodeRecover(AmqpMethodId method, ReadOnlyMemory<byte> arguments, out bool requeue, out AmqpError error)
    {
        if (method == AmqpMethodId.BasicRecover)
        {
            var decoded = BasicRecover.TryDecodeArguments(arguments, out var recover, out error);
            requeue = recover.Requeue;
            return decoded;
        }

        var decodedAsync = BasicRecoverAsync.TryDecodeArguments(arguments, out var recoverAsync, out error);
        requeue = recoverAsync.Requeue;
        return decodedAsync;
    }

    private void Reply<TMethod>(bool nowait, TMethod reply)
        where TMethod : struct, IAmqpMethod
    {
        if (!nowait)
        {
            Output.TrySendMethod(reply);
        }
    }

    private static bool TryParseKind(string type, out ExchangeKind kind)
    {
        switch (type)
        {
            case "direct":
                kind = ExchangeKind.Direct;
                return true;
            case "fanout":
                kind = ExchangeKind.Fanout;
                return true;
            case "topic":
                kind = ExchangeKind.Topic;
                return true;
            case "headers":
                kind = ExchangeKind.Headers;
                return true;
            default:
                kind = default;
                return false;
        }
    }
}
