using System.Buffers;
using System.Collections.Concurrent;
using System.IO.Pipelines;
using System.Net;
using System.Text;
using Holdfast.Amqp.Channels;
using Holdfast.Amqp.Codec;
using Holdfast.Amqp.Framing;
using Holdfast.Broker.Sessions;

namespace Holdfast.Amqp.Connection;

/// <summary>
/// One AMQP 0-9-1 connection over an <see cref="IDuplexPipe"/>: the handshake (protocol header,
/// start, tune, open), the connection and channel classes, heartbeats, and the framing rules;
/// everything else on a channel goes to the channel's <see cref="IAmqpChannelHandler"/>.
/// </summary>
/// <remarks>
/// <para>
/// One read loop owns all state; other threads only ask: <see cref="RequestClose"/> cancels the
/// pending read so the loop acts on it (or, while the loop waits out a resource alarm and reads
/// nothing, wakes that wait), <see cref="Abort"/> cancels everything. Output goes through a
/// <see cref="FrameOutbox"/>, so the heartbeat timer and the broker can write too.
/// </para>
/// <para>
/// Errors follow RabbitMQ: a hard error sends connection.close with the code, a readable text and
/// the offending class and method, then waits (bounded) for close-ok before dropping the socket;
/// a channel error closes that channel only. Every wait has a deadline: the handshake, the
/// close-ok, the peer's heartbeats, and the drain of the last frames.
/// </para>
/// </remarks>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1001:Types that own disposable fields should be disposable", Justification = "The token source lives exactly as long as RunAsync, which disposes it; nobody else holds the connection's lifetime.")]
public sealed class AmqpConnection
{
    private static long s_lastId;

    private readonly AmqpServer _server;
    private readonly IDuplexPipe _transport;
    private readonly FrameOutbox _outbox;
    private readonly CancellationTokenSource _abort;
    private readonly Dictionary<ushort, AmqpChannel> _channels = [];

    private ConnectionState _state = ConnectionState.AwaitingProtocolHeader;
    private uint _frameMax;
    private ushort _channelMax;
    private TimeSpan _heartbeat;
    private long _lastReadTimestamp;
    private ITimer? _heartbeatTimer;
    private object? _requestedClose;
    private readonly ConcurrentQueue<(ChannelOutput Output, ChannelVerdict Verdict)> _channelCloseRequests = new();
    private volatile string? _abortReason;
    private string _closeReason = "closed";
    private bool _inputDesynchronized;
    private readonly Lock _blockGate = new();
    private bool _clientSupportsBlocked;
    private bool _hasPublished;
    private bool _blockedNotified;
    private volatile bool _blocked;
    private TaskCompletionSource? _wakeBlocked;

    internal AmqpConnection(AmqpServer server, IDuplexPipe transport, EndPoint? remoteEndPoint)
    {
        _server = server;
        _transport = transport;
        RemoteEndPoint = remoteEndPoint;
        Id = Interlocked.Increment(ref s_lastId);
        _frameMax = server.Options.FrameMaxBytes;
        _outbox = new FrameOutbox(transport.Output, server.Time, server.Options.MaxPendingOutputBytes, () => Abort("the client stopped reading; output limit reached"));
        _abort = new CancellationTokenSource(Timeout.InfiniteTimeSpan, server.Time);
        _lastReadTimestamp = server.Time.GetTimestamp();
    }

    public long Id { get; }

    public EndPoint? RemoteEndPoint { get; }

    /// <summary>The authenticated user; empty until start-ok is accepted.</summary>
    public string UserName { get; private set; } = string.Empty;

    public string VirtualHost { get; private set; } = string.Empty;

    /// <summary>The <c>connection_name</c> client property, if the client sent one.</summary>
    public string? ClientProvidedName { get; private set; }

    /// <summary>The heartbeat the client chose in tune-ok; zero when heartbeats are off.</summary>
    public TimeSpan Heartbeat => _heartbeat;

    private AmqpServerOptions Options => _server.Options;

    private IAmqpConnectionObserver Observer => _server.Observer;

    /// <summary>Asks the connection to close with <paramref name="code"/>: connection.close, wait for close-ok, drop the socket.</summary>
    public void RequestClose(ReplyCode code, string reason)
    {
        Interlocked.CompareExchange(ref _requestedClose, new AmqpError(code, reason), null);
        WakeReadLoopSoon();
        WakeBlocked();
    }

    /// <summary>Drops the connection at once, without a close handshake (dead peer, shutdown deadline).</summary>
    public void Abort(string reason)
    {
        _abortReason ??= reason;
        try
        {
            _abort.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // Finished already.
        }
    }

    internal async Task RunAsync(CancellationToken cancellationToken)
    {
        using var registration = cancellationToken.Register(static state => ((AmqpConnection)state!).Abort("transport closed"), this);
        var writer = _outbox.RunAsync(_abort.Token);
        try
        {
            _abort.CancelAfter(Options.HandshakeTimeout);
            await ReadLoopAsync().ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (_abort.IsCancellationRequested)
        {
            _closeReason = _abortReason ?? $"handshake not completed within {Options.HandshakeTimeout.TotalSeconds:0.#} s";
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException)
        {
            // Not InvalidOperationException: a transport that fails says so with these, and a misused pipe or
            // collection in this connection's own code is a bug, reported as one below.
            _closeReason = "transport failed: " + ex.Message;
        }
#pragma warning disable CA1031 // A bug in one connection must cost that connection, not the process.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            Observer.Faulted(this, ex);
            _closeReason = "internal error: " + ex.GetType().Name;
        }
        finally
        {
            await ReleaseAsync().ConfigureAwait(false);

            // The last frames (close-ok, the protocol header of a refusal) still go out, within a bound.
            _outbox.Complete();
            _abort.CancelAfter(Options.CloseTimeout);
            await writer.ConfigureAwait(false);
            _abort.Dispose();
            Observer.Closed(this, _closeReason);
        }
    }

    private async Task ReleaseAsync()
    {
        _state = ConnectionState.Closed;
        if (_heartbeatTimer is not null)
        {
            await _heartbeatTimer.DisposeAsync().ConfigureAwait(false);
        }

        foreach (var channel in _channels.Values)
        {
            await DisposeHandlerAsync(channel).ConfigureAwait(false);
        }

        _channels.Clear();
        try
        {
            await _server.ChannelHandlers.ConnectionClosedAsync(Id).ConfigureAwait(false);
        }
#pragma warning disable CA1031 // The broker's cleanup failing must not stop this connection from closing.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            Observer.Faulted(this, ex);
        }

        await _transport.Input.CompleteAsync().ConfigureAwait(false);
    }

    // Channels that accepted a basic.ack since the last frame of another kind (read loop only); see IAmqpChannelHandler.AcksHandled.
    private readonly List<AmqpChannel> _ackRun = [];

    // The read loop's send batch (read loop only): see HandleReadAsync.
    private readonly SendBatch _sendBatch = new();

    private async Task ReadLoopAsync()
    {
        var input = _transport.Input;
        if (!await ReadProtocolHeaderAsync(input).ConfigureAwait(false))
        {
            return;
        }

        _state = ConnectionState.AwaitingStartOk;
        _outbox.TrySend(0, new ConnectionStart(0, 9, ServerProperties.Create(Options.ProductVersion), "PLAIN AMQPLAIN", "en_US"));

        while (_state != ConnectionState.Closed)
        {
            var result = await input.ReadAsync(_abort.Token).ConfigureAwait(false);
            _sendBatch.Begin();
            try
            {
                if (!await HandleReadAsync(input, result).ConfigureAwait(false))
                {
                    return;
                }
            }
            finally
            {
                _sendBatch.End();
            }
        }
    }

    /// <summary>
    /// One read's frames, inside the connection's <see cref="SendBatch"/>: the replies, confirms and deliveries they set off go
    /// out together when it ends, on this thread. False when the loop must stop.
    /// </summary>
    private async ValueTask<bool> HandleReadAsync(PipeReader input, ReadResult result)
    {
        MarkRead();
        TakeCloseRequest();
        await OutsideBatchAsync(TakeChannelCloseRequestsAsync()).ConfigureAwait(false);
        var buffer = result.Buffer;
        if (_inputDesynchronized)
        {
            // After a framing error the byte stream has no frame boundaries any more: nothing
            // in it can be trusted, not even a close-ok. Wait for the peer to hang up, or the deadline.
            buffer = buffer.Slice(buffer.End);
        }

        while (_state != ConnectionState.Closed && !_inputDesynchronized)
        {
            var status = TryCutFrame(ref buffer, out var frame, out var error);
            if (status == FrameReadStatus.NeedMoreData)
            {
                break;
            }

            if (status == FrameReadStatus.Error)
            {
                CloseConnection(0, error);
                _inputDesynchronized = true;
                buffer = buffer.Slice(buffer.End);
                break;
            }

            if (_ackRun.Count > 0 && !IsBasicAck(frame))
            {
                await OutsideBatchAsync(EndAckRunAsync()).ConfigureAwait(false);
            }

            await OutsideBatchAsync(HandleFrameAsync(frame)).ConfigureAwait(false);
        }

        await OutsideBatchAsync(EndAckRunAsync()).ConfigureAwait(false);
        input.AdvanceTo(buffer.Start, result.Buffer.End);
        if (_outbox.Overflowed)
        {
            _closeReason = "the client stopped reading; output limit reached";
            return false;
        }

        if (result.IsCompleted && _state != ConnectionState.Closed)
        {
            _closeReason = _state == ConnectionState.Closing ? _closeReason : "client closed the socket without connection.close";
            return false;
        }

        return true;
    }

    /// <summary>
    /// Awaits <paramref name="pending"/> with the read's send batch ended: a batch collects the sends of one thread, and
    /// the code after an await that did not complete at once may run on another. What the batch holds goes out here,
    /// and it opens again where the code resumes.
    /// </summary>
    private async ValueTask OutsideBatchAsync(ValueTask pending)
    {
        if (pending.IsCompletedSuccessfully)
        {
            pending.GetAwaiter().GetResult();
            return;
        }

        _sendBatch.End();
        try
        {
            await pending.ConfigureAwait(false);
        }
        finally
        {
            _sendBatch.Begin();
        }
    }

    private async Task<bool> ReadProtocolHeaderAsync(PipeReader input)
    {
        while (true)
        {
            var result = await input.ReadAsync(_abort.Token).ConfigureAwait(false);
            MarkRead();
            if (Interlocked.Exchange(ref _requestedClose, null) is AmqpError requested)
            {
                _closeReason = requested.Reason;
                return false;
            }

            var buffer = result.Buffer;
            var status = TryReadProtocolHeader(ref buffer);
            if (status == ProtocolHeaderStatus.Accepted)
            {
                input.AdvanceTo(buffer.Start);
                return true;
            }

            if (status == ProtocolHeaderStatus.Unsupported)
            {
                // The spec's answer to a header we do not speak: ours, then close the socket.
                input.AdvanceTo(buffer.End);
                _outbox.TrySendProtocolHeader();
                _closeReason = "unsupported protocol header";
                return false;
            }

            input.AdvanceTo(buffer.Start, buffer.End);
            if (result.IsCompleted)
            {
                _closeReason = "client closed the socket before the protocol header";
                return false;
            }
        }
    }

    private static ProtocolHeaderStatus TryReadProtocolHeader(ref ReadOnlySequence<byte> buffer)
    {
        var reader = new SequenceReader<byte>(buffer);
        var status = ProtocolHeader.TryRead(ref reader);
        buffer = buffer.Slice(reader.Position);
        return status;
    }

    private FrameReadStatus TryCutFrame(ref ReadOnlySequence<byte> buffer, out AmqpFrame frame, out AmqpError error)
    {
        var reader = new SequenceReader<byte>(buffer);
        var status = FrameReader.TryReadFrame(ref reader, _frameMax, out frame, out error);
        if (status == FrameReadStatus.Frame)
        {
            buffer = buffer.Slice(reader.Position);
        }

        return status;
    }

    private void MarkRead() => Interlocked.Exchange(ref _lastReadTimestamp, _server.Time.GetTimestamp());

    private void TakeCloseRequest()
    {
        if (Interlocked.Exchange(ref _requestedClose, null) is AmqpError requested)
        {
            CloseConnection(0, requested);
        }
    }

    /// <summary>A channel's handler asks, from another thread (a queue's delivery), for its channel to be closed.</summary>
    private void RequestChannelClose(ChannelOutput output, ChannelVerdict verdict)
    {
        _channelCloseRequests.Enqueue((output, verdict));
        WakeReadLoopSoon();
        WakeBlocked();
    }

    /// <summary>
    /// Ends the read loop's wait for input, from a thread-pool item. With inline I/O the read loop would resume inside
    /// <c>CancelPendingRead</c>, on the caller's thread and under whatever the caller holds: a queue's delivery asks
    /// for a channel to close with the queue's and the channel's locks held.
    /// </summary>
    private void WakeReadLoopSoon() =>
        ThreadPool.UnsafeQueueUserWorkItem(
            static input =>
            {
                try
                {
                    input.CancelPendingRead();
                }
                catch (InvalidOperationException)
                {
                    // The input is already completed: the connection is on its way out anyway.
                }
            },
            _transport.Input,
            preferLocal: false);

    /// <summary>A request for the read loop while it waits out an alarm: no read is pending then, so cancelling one reaches nobody.</summary>
    private void WakeBlocked()
    {
        TaskCompletionSource? wake;
        lock (_blockGate)
        {
            wake = _wakeBlocked;
        }

        wake?.TrySetResult();
    }

    private async ValueTask TakeChannelCloseRequestsAsync()
    {
        while (_channelCloseRequests.TryDequeue(out var request))
        {
            // Only the channel that asked: its number may have been closed and opened again since.
            if (_state == ConnectionState.Open
                && _channels.TryGetValue(request.Output.ChannelNumber, out var channel)
                && channel.Output == request.Output
                && channel.State == ChannelState.Open)
            {
                await ApplyAsync(channel, request.Verdict).ConfigureAwait(false);
            }
        }
    }

    private async ValueTask HandleFrameAsync(AmqpFrame frame)
    {
        if (_state == ConnectionState.Closing)
        {
            HandleWhileClosing(frame);
            return;
        }

        if (frame.Type == FrameType.Heartbeat)
        {
            if (frame.Channel != 0)
            {
                CloseConnection(0, new AmqpError(ReplyCode.FrameError, $"heartbeat frame on channel {frame.Channel}; heartbeats belong on channel 0"));
            }

            return;
        }

        byte[]? rented = null;
        try
        {
            // A body frame on a channel is taken as it lies in the pipe; copying a split one would be wasted.
            var payload = frame.Type == FrameType.Body && frame.Channel != 0 ? ReadOnlyMemory<byte>.Empty : Contiguous(frame.Payload, ref rented);
            if (frame.Channel == 0)
            {
                await HandleConnectionFrameAsync(frame.Type, payload).ConfigureAwait(false);
            }
            else
            {
                await HandleChannelFrameAsync(frame.Type, frame.Channel, frame.Payload, payload).ConfigureAwait(false);
            }
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<byte>.Shared.Return(rented);
            }
        }
    }

    /// <summary>Method payloads are decoded from one block of memory; the rare payload split across pipe segments is copied into a pooled buffer its already-checked size.</summary>
    internal static ReadOnlyMemory<byte> Contiguous(ReadOnlySequence<byte> payload, ref byte[]? rented)
    {
        if (payload.IsSingleSegment)
        {
            return payload.First;
        }

        rented = ArrayPool<byte>.Shared.Rent((int)payload.Length);
        payload.CopyTo(rented);
        return rented.AsMemory(0, (int)payload.Length);
    }

    private void HandleWhileClosing(AmqpFrame frame)
    {
        // Per the spec, after sending close the server discards everything except close-ok, or a
        // close from a peer that was closing at the same moment.
        if (frame.Type != FrameType.Method || frame.Channel != 0 || frame.Payload.Length < 4)
        {
            return;
        }

        Span<byte> ids = stackalloc byte[4];
        frame.Payload.Slice(0, 4).CopyTo(ids);
        var id = (AmqpMethodId)System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(ids);
        if (id == AmqpMethodId.ConnectionClose)
        {
            _outbox.TrySend(0, default(ConnectionCloseOk));
            _state = ConnectionState.Closed;
        }
        else if (id == AmqpMethodId.ConnectionCloseOk)
        {
            _state = ConnectionState.Closed;
        }
    }

    private async ValueTask HandleConnectionFrameAsync(FrameType type, ReadOnlyMemory<byte> payload)
    {
        if (type != FrameType.Method)
        {
            CloseConnection(0, new AmqpError(ReplyCode.UnexpectedFrame, $"{type} frame on channel 0, which carries connection methods only"));
            return;
        }

        if (!AmqpMethodDecoder.TryReadMethodId(payload.Span, out var id, out var error))
        {
            CloseConnection(0, error);
            return;
        }

        var arguments = payload[4..];
        if (AmqpMethodInfo.ClassIdOf(id) != (ushort)AmqpClassId.Connection)
        {
            CloseConnection(0, Invalid(id, $"{AmqpMethodInfo.Name(id)} on channel 0, which carries connection methods only"));
            return;
        }

        if (id == AmqpMethodId.ConnectionClose)
        {
            HandleClientClose(arguments);
            return;
        }

        switch (_state, id)
        {
            case (ConnectionState.AwaitingStartOk, AmqpMethodId.ConnectionStartOk):
                await HandleStartOkAsync(arguments).ConfigureAwait(false);
                break;
            case (ConnectionState.AwaitingTuneOk, AmqpMethodId.ConnectionTuneOk):
                HandleTuneOk(arguments);
                break;
            case (ConnectionState.AwaitingOpen, AmqpMethodId.ConnectionOpen):
                HandleOpen(arguments);
                break;
            case (ConnectionState.Open, AmqpMethodId.ConnectionUpdateSecret):
                CloseConnection(0, new AmqpError(ReplyCode.NotImplemented, "connection.update-secret is not implemented yet", (ushort)AmqpClassId.Connection, AmqpMethodInfo.MethodIndexOf(id)));
                break;
            default:
                CloseConnection(0, Invalid(id, $"{AmqpMethodInfo.Name(id)} is not valid {DescribeState()}"));
                break;
        }
    }

    private string DescribeState() => _state switch
    {
        ConnectionState.AwaitingStartOk => "here: expected connection.start-ok",
        ConnectionState.AwaitingTuneOk => "here: expected connection.tune-ok",
        ConnectionState.AwaitingOpen => "here: expected connection.open",
        _ => "on an open connection",
    };

    private void HandleClientClose(ReadOnlyMemory<byte> arguments)
    {
        if (!ConnectionClose.TryDecodeArguments(arguments, out var close, out var error))
        {
            CloseConnection(0, error);
            return;
        }

        _outbox.CloseChannels();
        _outbox.TrySend(0, default(ConnectionCloseOk));
        _closeReason = $"client closed the connection: {close.ReplyCode} {close.ReplyText}";
        _state = ConnectionState.Closed;
    }

    private async ValueTask HandleStartOkAsync(ReadOnlyMemory<byte> arguments)
    {
        if (!ConnectionStartOk.TryDecodeArguments(arguments, out var startOk, out var error))
        {
            CloseConnection(0, error);
            return;
        }

        ClientProvidedName = startOk.ClientProperties.TryGetValue("connection_name", out var name) && name.Kind == FieldValueKind.LongString ? name.AsString() : null;
        string mechanism = startOk.Mechanism.ToString();
        if (!SaslResponse.IsSupported(mechanism))
        {
            CloseConnection(0, new AmqpError(ReplyCode.CommandInvalid, $"unknown authentication mechanism '{mechanism}'; offered: PLAIN AMQPLAIN", 10, 11));
            return;
        }

        bool closeOnFailure = HasCapability(startOk.ClientProperties, "authentication_failure_close");
        _clientSupportsBlocked = HasCapability(startOk.ClientProperties, "connection.blocked");
        if (!SaslResponse.TryParse(mechanism, startOk.Response.Span, out var credentials, out string problem))
        {
            RefuseLogin(mechanism, null, problem, closeOnFailure);
            return;
        }

        var verdict = await _server.Authenticator.AuthenticateAsync(credentials, RemoteEndPoint, _abort.Token).ConfigureAwait(false);
        if (!verdict.Succeeded)
        {
            RefuseLogin(mechanism, credentials, verdict.Reason, closeOnFailure);
            return;
        }

        UserName = credentials.UserName;
        _state = ConnectionState.AwaitingTuneOk;
        _outbox.TrySend(0, new ConnectionTune(Options.ChannelMax, Options.FrameMaxBytes, (ushort)Options.Heartbeat.TotalSeconds));
    }

    private void RefuseLogin(string mechanism, AmqpCredentials? credentials, string reason, bool closeOnFailure)
    {
        Observer.AuthenticationFailed(this, credentials, reason);

        // RabbitMQ's wording: the client learns that the login failed, the log learns why.
        var refusal = new AmqpError(ReplyCode.AccessRefused, $"Login was refused using authentication mechanism {mechanism}. For details see the broker logfile.");
        if (closeOnFailure)
        {
            CloseConnection(0, refusal);
            return;
        }

        // A client without authentication_failure_close expects the socket to close, as the spec says.
        _closeReason = refusal.ToString();
        _state = ConnectionState.Closed;
    }

    private static bool HasCapability(FieldTable clientProperties, string capability) =>
        clientProperties.TryGetValue("capabilities", out var capabilities)
        && capabilities.Kind == FieldValueKind.Table
        && capabilities.AsTable().TryGetValue(capability, out var flag)
        && flag.Kind == FieldValueKind.Boolean
        && flag.AsBoolean();

    private void HandleTuneOk(ReadOnlyMemory<byte> arguments)
    {
        if (!ConnectionTuneOk.TryDecodeArguments(arguments, out var tuneOk, out var error))
        {
            CloseConnection(0, error);
            return;
        }

        // Zero means "no limit" on either side; the client may lower the server's offer, never raise it.
        ushort serverChannelMax = Options.ChannelMax == 0 ? ushort.MaxValue : Options.ChannelMax;
        ushort channelMax = tuneOk.ChannelMax == 0 ? serverChannelMax : tuneOk.ChannelMax;
        if (channelMax > serverChannelMax)
        {
            CloseConnection(0, new AmqpError(ReplyCode.NotAllowed, $"negotiated channel_max = {channelMax} is higher than the maximum allowed value ({serverChannelMax})", 10, 31));
            return;
        }

        uint frameMax = tuneOk.FrameMax == 0 ? uint.MaxValue : tuneOk.FrameMax;
        if (frameMax < AmqpConstants.FrameMinSize)
        {
            CloseConnection(0, new AmqpError(ReplyCode.NotAllowed, $"frame_max={frameMax} < {AmqpConstants.FrameMinSize} min size", 10, 31));
            return;
        }

        if (frameMax > Options.FrameMaxBytes)
        {
            CloseConnection(0, new AmqpError(ReplyCode.NotAllowed, $"negotiated frame_max = {(tuneOk.FrameMax == 0 ? "0 (no limit)" : frameMax)} is higher than the maximum allowed value ({Options.FrameMaxBytes})", 10, 31));
            return;
        }

        _channelMax = channelMax;
        _frameMax = frameMax;
        _outbox.FrameMax = frameMax;
        _heartbeat = TimeSpan.FromSeconds(tuneOk.Heartbeat);
        _state = ConnectionState.AwaitingOpen;
        if (_heartbeat > TimeSpan.Zero)
        {
            var period = _heartbeat / 2;
            _heartbeatTimer = _server.Time.CreateTimer(static state => ((AmqpConnection)state!).OnHeartbeatTick(), this, period, period);
        }
    }

    /// <summary>
    /// Every half heartbeat: a peer silent for two heartbeats is dead (RabbitMQ's rule) and its socket
    /// is dropped; otherwise a heartbeat goes out if nothing else did lately.
    /// </summary>
    private void OnHeartbeatTick()
    {
        var silence = _server.Time.GetElapsedTime(Interlocked.Read(ref _lastReadTimestamp));

        // A blocked connection is not read, so its peer's heartbeats pile up unread: silence then proves nothing.
        if (silence >= _heartbeat * 2 && !_blocked)
        {
            Abort($"missed heartbeats from client, timeout: {_heartbeat.TotalSeconds:0}s");
            return;
        }

        if (_outbox.SinceLastWrite >= _heartbeat / 4)
        {
            _outbox.TrySendHeartbeat();
        }
    }

    private void HandleOpen(ReadOnlyMemory<byte> arguments)
    {
        if (!ConnectionOpen.TryDecodeArguments(arguments, out var open, out var error))
        {
            CloseConnection(0, error);
            return;
        }

        string virtualHost = open.VirtualHost.ToString();
        if (!_server.Authenticator.CanOpenVirtualHost(UserName, virtualHost, out string refusal))
        {
            CloseConnection(0, new AmqpError(ReplyCode.NotAllowed, refusal, 10, 40));
            return;
        }

        VirtualHost = virtualHost;
        _state = ConnectionState.Open;
        _abort.CancelAfter(Timeout.InfiniteTimeSpan);
        _outbox.TrySend(0, new ConnectionOpenOk(ShortString.Empty));
        Observer.Opened(this);
    }

    private async ValueTask HandleChannelFrameAsync(FrameType type, ushort number, ReadOnlySequence<byte> rawPayload, ReadOnlyMemory<byte> payload)
    {
        if (_state != ConnectionState.Open)
        {
            CloseConnection(0, new AmqpError(ReplyCode.ChannelError, $"{type} frame on channel {number} before the connection is open"));
            return;
        }

        if (number > _channelMax)
        {
            CloseConnection(0, new AmqpError(ReplyCode.ChannelError, $"channel {number} is above the negotiated channel_max {_channelMax}"));
            return;
        }

        AmqpMethodId id = default;
        if (type == FrameType.Method && !AmqpMethodDecoder.TryReadMethodId(payload.Span, out id, out var idError))
        {
            CloseConnection(number, idError);
            return;
        }

        if (!_channels.TryGetValue(number, out var channel))
        {
            if (type == FrameType.Method && id == AmqpMethodId.ChannelOpen)
            {
                OpenChannel(number, payload[4..]);
            }
            else
            {
                string got = type == FrameType.Method ? AmqpMethodInfo.Name(id) : $"a {type} frame";
                CloseConnection(number, new AmqpError(ReplyCode.ChannelError, $"expected 'channel.open' on channel {number}, got {got}", AmqpMethodInfo.ClassIdOf(id), AmqpMethodInfo.MethodIndexOf(id)));
            }

            return;
        }

        if (channel.State == ChannelState.Closing)
        {
            await HandleOnClosingChannelAsync(channel, type, id).ConfigureAwait(false);
            return;
        }

        switch (type)
        {
            case FrameType.Method:
                await HandleChannelMethodAsync(channel, id, payload[4..]).ConfigureAwait(false);
                break;
            case FrameType.Header:
                await HandleContentHeaderAsync(channel, payload).ConfigureAwait(false);
                break;
            default:
                await HandleContentBodyAsync(channel, rawPayload).ConfigureAwait(false);
                break;
        }
    }

    private void OpenChannel(ushort number, ReadOnlyMemory<byte> arguments)
    {
        if (!ChannelOpen.TryDecodeArguments(arguments, out _, out var error))
        {
            CloseConnection(number, error);
            return;
        }

        var output = new ChannelOutput(_outbox, number, RequestChannelClose);
        var context = new AmqpChannelContext(Id, number, UserName, VirtualHost, RemoteEndPoint, output);
        _channels[number] = new AmqpChannel(number, _server.ChannelHandlers.Create(context), output);
        _outbox.TrySend(number, new ChannelOpenOk(LongString.Empty));
    }

    private async ValueTask HandleOnClosingChannelAsync(AmqpChannel channel, FrameType type, AmqpMethodId id)
    {
        // As for the connection: after our channel.close only close-ok (or a crossing close) counts.
        if (type != FrameType.Method)
        {
            return;
        }

        if (id == AmqpMethodId.ChannelClose)
        {
            _outbox.TrySend(channel.Number, default(ChannelCloseOk));
            await ForgetChannelAsync(channel).ConfigureAwait(false);
        }
        else if (id == AmqpMethodId.ChannelCloseOk)
        {
            await ForgetChannelAsync(channel).ConfigureAwait(false);
        }
    }

    private async ValueTask HandleChannelMethodAsync(AmqpChannel channel, AmqpMethodId id, ReadOnlyMemory<byte> arguments)
    {
        if (channel.ContentMethod is { } pending)
        {
            string due = channel.ExpectsHeader ? "content header" : "content body";
            CloseConnection(channel.Number, new AmqpError(ReplyCode.UnexpectedFrame, $"expected {due} for {AmqpMethodInfo.Name(pending)} on channel {channel.Number}, got {AmqpMethodInfo.Name(id)}", AmqpMethodInfo.ClassIdOf(id), AmqpMethodInfo.MethodIndexOf(id)));
            return;
        }

        switch ((AmqpClassId)AmqpMethodInfo.ClassIdOf(id))
        {
            case AmqpClassId.Connection:
                CloseConnection(channel.Number, Invalid(id, $"{AmqpMethodInfo.Name(id)} on channel {channel.Number}; connection methods belong on channel 0"));
                return;
            case AmqpClassId.Channel:
                await HandleChannelClassMethodAsync(channel, id, arguments).ConfigureAwait(false);
                return;
            case AmqpClassId.Access when id == AmqpMethodId.AccessRequest:
                // Deprecated since 0-9; RabbitMQ still answers it with a dummy ticket.
                _outbox.TrySend(channel.Number, new AccessRequestOk(1));
                return;
            case AmqpClassId.Access:
                CloseConnection(channel.Number, Invalid(id, $"{AmqpMethodInfo.Name(id)} is sent by servers only"));
                return;
        }

        if (id == AmqpMethodId.BasicPublish)
        {
            await WaitWhileAlarmedAsync().ConfigureAwait(false);

            // A close carried out during the wait (this channel's or the connection's) leaves the publish nowhere to
            // go: after a close the peer's frames are discarded until close-ok, this content with them.
            if (_state != ConnectionState.Open || channel.State != ChannelState.Open)
            {
                return;
            }
        }

        ChannelVerdict verdict;
        try
        {
            verdict = await channel.Handler.HandleMethodAsync(id, arguments, _abort.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (IsHandlerFault(ex))
        {
            verdict = HandlerFaulted(channel, id, ex);
        }

        if (verdict.Kind == ChannelVerdictKind.Continue && AmqpMethodInfo.HasContent(id))
        {
            channel.ExpectContent(id);
        }

        if (verdict.Kind == ChannelVerdictKind.Continue && id == AmqpMethodId.BasicAck && !_ackRun.Contains(channel))
        {
            _ackRun.Add(channel);
        }

        await ApplyAsync(channel, verdict).ConfigureAwait(false);
    }

    private static bool IsBasicAck(in AmqpFrame frame)
    {
        if (frame.Type != FrameType.Method || frame.Channel == 0 || frame.Payload.Length < 4)
        {
            return false;
        }

        Span<byte> id = stackalloc byte[4];
        frame.Payload.Slice(0, 4).CopyTo(id);
        return id[0] == 0 && id[1] == 60 && id[2] == 0 && id[3] == 80;
    }

    /// <summary>Tells each channel that took acks in the run just ended (and is still open) that the run is over.</summary>
    private async ValueTask EndAckRunAsync()
    {
        for (var i = 0; i < _ackRun.Count; i++)
        {
            var channel = _ackRun[i];
            if (_state != ConnectionState.Open || channel.State != ChannelState.Open || channel.HandlerDisposed)
            {
                continue;
            }

            try
            {
                channel.Handler.AcksHandled();
            }
            catch (Exception ex) when (IsHandlerFault(ex))
            {
                await ApplyAsync(channel, HandlerFaulted(channel, AmqpMethodId.BasicAck, ex)).ConfigureAwait(false);
            }
        }

        _ackRun.Clear();
    }

    /// <summary>
    /// RabbitMQ's flow control under a resource alarm: a connection that publishes stops being read
    /// (TCP pushes back on the client) until the alarm clears. Nothing it sent is dropped. Close
    /// requests from other threads (a channel whose delivery failed, a forced close) are carried out
    /// meanwhile: a failed channel must not keep its consumers and unacked messages for the whole alarm.
    /// </summary>
    private async ValueTask WaitWhileAlarmedAsync()
    {
        lock (_blockGate)
        {
            _hasPublished = true;
        }

        if (_server.Alarms is not { IsAlarmed: true } alarms)
        {
            return;
        }

        OnResourceAlarm(alarms.Reason);
        _blocked = true;
        try
        {
            var clear = alarms.WhenClearAsync();
            while (true)
            {
                // Set up before the queues are looked at, so a request made after the look wakes the wait below.
                var wake = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                lock (_blockGate)
                {
                    _wakeBlocked = wake;
                }

                TakeCloseRequest();
                await TakeChannelCloseRequestsAsync().ConfigureAwait(false);
                if (clear.IsCompleted || _state != ConnectionState.Open)
                {
                    break;
                }

                await Task.WhenAny(clear, wake.Task).WaitAsync(_abort.Token).ConfigureAwait(false);
            }
        }
        finally
        {
            lock (_blockGate)
            {
                _wakeBlocked = null;
            }

            _blocked = false;
            MarkRead();
        }
    }

    /// <summary>Tells a publishing client that supports it that it is blocked, or unblocked (connection.blocked, connection.unblocked).</summary>
    internal void OnResourceAlarm(string? reason)
    {
        lock (_blockGate)
        {
            if (!_clientSupportsBlocked || !_hasPublished || _state != ConnectionState.Open)
            {
                return;
            }

            if (reason is not null && !_blockedNotified)
            {
                _blockedNotified = _outbox.TrySend(0, new ConnectionBlocked(reason));
            }
            else if (reason is null && _blockedNotified)
            {
                _blockedNotified = false;
                _outbox.TrySend(0, default(ConnectionUnblocked));
            }
        }
    }

    private async ValueTask HandleChannelClassMethodAsync(AmqpChannel channel, AmqpMethodId id, ReadOnlyMemory<byte> arguments)
    {
        switch (id)
        {
            case AmqpMethodId.ChannelOpen:
                CloseConnection(channel.Number, new AmqpError(ReplyCode.ChannelError, $"second 'channel.open' seen on channel {channel.Number}", 20, 10));
                break;
            case AmqpMethodId.ChannelClose:
                if (!ChannelClose.TryDecodeArguments(arguments, out _, out var closeError))
                {
                    CloseConnection(channel.Number, closeError);
                    return;
                }

                // Forgotten before close-ok: once the client hears it, its consumers and reply names are gone
                // and its unacked messages are back in their queues.
                await ForgetChannelAsync(channel).ConfigureAwait(false);
                _outbox.TrySend(channel.Number, default(ChannelCloseOk));
                break;
            case AmqpMethodId.ChannelFlow:
                if (!ChannelFlow.TryDecodeArguments(arguments, out var flow, out var flowError))
                {
                    CloseConnection(channel.Number, flowError);
                    return;
                }

                channel.FlowActive = flow.Active;
                _outbox.TrySend(channel.Number, new ChannelFlowOk(flow.Active));
                break;
            case AmqpMethodId.ChannelCloseOk or AmqpMethodId.ChannelFlowOk:
                // Answers to requests we never sent on this channel: harmless, ignored.
                break;
            default:
                CloseConnection(channel.Number, Invalid(id, $"{AmqpMethodInfo.Name(id)} is sent by servers only"));
                break;
        }
    }

    private async ValueTask HandleContentHeaderAsync(AmqpChannel channel, ReadOnlyMemory<byte> payload)
    {
        if (!channel.ExpectsHeader)
        {
            CloseConnection(channel.Number, new AmqpError(ReplyCode.UnexpectedFrame, $"content header frame on channel {channel.Number} without a content method before it"));
            return;
        }

        if (!ContentHeader.TryDecode(payload, out var header, out var error))
        {
            CloseConnection(channel.Number, error);
            return;
        }

        var method = channel.ContentMethod.GetValueOrDefault();
        channel.HeaderReceived(header.BodySize);
        ChannelVerdict verdict;
        try
        {
            verdict = await channel.Handler.HandleContentHeaderAsync(header, _abort.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (IsHandlerFault(ex))
        {
            verdict = HandlerFaulted(channel, method, ex);
        }

        await ApplyAsync(channel, verdict).ConfigureAwait(false);
    }

    private async ValueTask HandleContentBodyAsync(AmqpChannel channel, ReadOnlySequence<byte> body)
    {
        if (!channel.ExpectsBody)
        {
            CloseConnection(channel.Number, new AmqpError(ReplyCode.UnexpectedFrame, $"content body frame on channel {channel.Number} without a content header before it"));
            return;
        }

        if ((ulong)body.Length > channel.BodyBytesRemaining)
        {
            CloseConnection(channel.Number, new AmqpError(ReplyCode.FrameError, $"content body on channel {channel.Number} is longer than its header announced ({channel.BodyBytesRemaining} bytes were left)"));
            return;
        }

        var method = channel.ContentMethod.GetValueOrDefault();
        bool isLast = channel.BodyReceived((ulong)body.Length);
        ChannelVerdict verdict;
        try
        {
            verdict = await channel.Handler.HandleContentBodyAsync(body, isLast, _abort.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (IsHandlerFault(ex))
        {
            verdict = HandlerFaulted(channel, method, ex);
        }

        await ApplyAsync(channel, verdict).ConfigureAwait(false);
    }

    /// <summary>
    /// What a handler throws is a fault it did not foresee (refusals come back as verdicts), unless it is the
    /// connection's own abort reaching an operation that was waiting on it.
    /// </summary>
    private bool IsHandlerFault(Exception exception) => exception is not OperationCanceledException || !_abort.IsCancellationRequested;

    /// <summary>
    /// A fault in one channel's handler costs that channel, as a refusal would, not the connection: it is closed with
    /// 541 (its consumers stop, its unacked messages go back, a publish in progress is never confirmed) and the bug is
    /// reported with its stack. The connection's own state is not in doubt: the frames were whole and in order.
    /// </summary>
    private ChannelVerdict HandlerFaulted(AmqpChannel channel, AmqpMethodId method, Exception exception)
    {
        Observer.ChannelFaulted(this, channel.Number, exception);
        return ChannelVerdict.CloseChannel(new AmqpError(
            ReplyCode.InternalError,
            $"{AmqpMethodInfo.Name(method)} failed with an internal error ({exception.GetType().Name}: {exception.Message})",
            AmqpMethodInfo.ClassIdOf(method),
            AmqpMethodInfo.MethodIndexOf(method)));
    }

    private async ValueTask ApplyAsync(AmqpChannel channel, ChannelVerdict verdict)
    {
        switch (verdict.Kind)
        {
            case ChannelVerdictKind.CloseChannel:
                Observer.ProtocolError(this, channel.Number, verdict.Error);
                channel.State = ChannelState.Closing;
                channel.ExpectContent(default);

                // The channel ends now, as RabbitMQ's does on an error: its consumers stop and its unacked
                // messages go back before channel.close goes out, and nothing more is sent on it.
                await DisposeHandlerAsync(channel).ConfigureAwait(false);
                _outbox.TrySend(channel.Number, new ChannelClose((ushort)verdict.Error.Code, ReplyText(verdict.Error), verdict.Error.ClassId, verdict.Error.MethodId));
                break;
            case ChannelVerdictKind.CloseConnection:
                CloseConnection(channel.Number, verdict.Error);
                break;
        }
    }

    private async ValueTask ForgetChannelAsync(AmqpChannel channel)
    {
        _channels.Remove(channel.Number);
        await DisposeHandlerAsync(channel).ConfigureAwait(false);
    }

    private async ValueTask DisposeHandlerAsync(AmqpChannel channel)
    {
        if (channel.HandlerDisposed)
        {
            return;
        }

        channel.HandlerDisposed = true;
        try
        {
            await channel.Handler.DisposeAsync().ConfigureAwait(false);
        }
#pragma warning disable CA1031 // A faulty handler must not take the connection's other channels with it.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            Observer.ChannelFaulted(this, channel.Number, ex);
        }
    }

    /// <summary>Sends connection.close and waits (bounded) for close-ok, discarding everything else meanwhile.</summary>
    private void CloseConnection(ushort channel, AmqpError error)
    {
        if (_state is ConnectionState.Closing or ConnectionState.Closed)
        {
            return;
        }

        Observer.ProtocolError(this, channel, error);
        _closeReason = error.ToString();
        _state = ConnectionState.Closing;
        _outbox.CloseChannels();
        _outbox.TrySend(0, new ConnectionClose((ushort)error.Code, ReplyText(error), error.ClassId, error.MethodId));
        _abort.CancelAfter(Options.CloseTimeout);
    }

    private static AmqpError Invalid(AmqpMethodId id, string reason) =>
        new(ReplyCode.CommandInvalid, reason, AmqpMethodInfo.ClassIdOf(id), AmqpMethodInfo.MethodIndexOf(id));

    /// <summary>The reply text, cut as RabbitMQ cuts it when it exceeds a short string: 252 bytes (at a character boundary) and "...".</summary>
    private static ShortString ReplyText(AmqpError error)
    {
        string text = error.ReplyText;
        if (Encoding.UTF8.GetByteCount(text) <= ShortString.MaxLength)
        {
            return ShortString.FromString(text);
        }

        var bytes = Encoding.UTF8.GetBytes(text);
        var cut = ShortString.MaxLength - 3;
        while (cut > 0 && (bytes[cut] & 0xC0) == 0x80)
        {
            cut--; // Do not split a UTF-8 sequence.
        }

        return ShortString.FromString(Encoding.UTF8.GetString(bytes, 0, cut) + "...");
    }
}
