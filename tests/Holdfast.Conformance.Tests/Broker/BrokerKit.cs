using Holdfast.Conformance.Tests.Support;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;
using RabbitMQ.Client.Exceptions;

namespace Holdfast.Conformance.Tests.Broker;

/// <summary>
/// Shared helpers for the broker conformance tests. Every wait is bounded by <see cref="Wait"/>, so a broker that
/// answers 540 (or nothing) fails a test in seconds instead of hanging the run.
/// </summary>
internal static class BrokerKit
{
    /// <summary>How long any single expected event may take.</summary>
    public static readonly TimeSpan Wait = TimeSpan.FromSeconds(5);

    /// <summary>A name no other test (or earlier run against a long-lived broker) uses.</summary>
    public static string Unique(string prefix) => $"conf-{prefix}-{Guid.NewGuid():N}";

    public static CreateChannelOptions Confirming { get; } = new(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true);

    public static Task<IChannel> CreateConfirmingChannelAsync(this IConnection connection) => connection.CreateChannelAsync(Confirming);

    /// <summary>The frame-max of the small connections that oversized content headers are tested against: the spec's minimum.</summary>
    public const int SmallFrameMax = 4096;

    /// <summary>A connection from <paramref name="factory"/> that negotiated <see cref="SmallFrameMax"/>.</summary>
    public static async Task<IConnection> CreateSmallFrameConnectionAsync(this ConnectionFactory factory)
    {
        factory.RequestedFrameMax = SmallFrameMax;
        var connection = await factory.CreateConnectionAsync();
        Assert.Equal((uint)SmallFrameMax, connection.FrameMax);
        return connection;
    }

    /// <summary>Properties whose content header only a connection with a frame-max well above <see cref="SmallFrameMax"/> can carry.</summary>
    public static BasicProperties OversizedHeaders() =>
        new() { Headers = new Dictionary<string, object?> { ["padding"] = new string('p', 3 * SmallFrameMax) } };

    /// <summary>A plain, non-exclusive, non-durable, non-auto-delete queue.</summary>
    public static async Task<string> DeclareQueueAsync(this IChannel channel, string prefix = "q", IDictionary<string, object?>? arguments = null)
    {
        var ok = await channel.QueueDeclareAsync(Unique(prefix), durable: false, exclusive: false, autoDelete: false, arguments: arguments);
        return ok.QueueName;
    }

    /// <summary>
    /// basic.publish of a UTF-8 body. On a confirm-tracking channel this completes with the ack (and throws on a nack or
    /// return); the client waits for that without a timeout of its own, so it is bounded by <see cref="Wait"/> here.
    /// </summary>
    public static Task PublishAsync(this IChannel channel, string exchange, string routingKey, string body, bool mandatory = false, BasicProperties? properties = null) =>
        channel.BasicPublishAsync(exchange, routingKey, mandatory, properties ?? new BasicProperties(), System.Text.Encoding.UTF8.GetBytes(body)).AsTask().WaitAsync(Wait);

    public static string Text(ReadOnlyMemory<byte> body) => System.Text.Encoding.UTF8.GetString(body.Span);

    /// <summary>Bodies left in <paramref name="queue"/>, drained with auto-ack basic.get.</summary>
    public static async Task<List<string>> DrainAsync(this IChannel channel, string queue)
    {
        var bodies = new List<string>();
        while (await channel.BasicGetAsync(queue, autoAck: true) is { } got)
        {
            bodies.Add(Text(got.Body));
        }

        return bodies;
    }

    /// <summary>The ready-message count from a passive declare on a fresh channel (so a failure cannot poison the caller's channel).</summary>
    public static async Task<uint> ReadyCountAsync(this IConnection connection, string queue)
    {
        await using var channel = await connection.CreateChannelAsync();
        var ok = await channel.QueueDeclarePassiveAsync(queue);
        await channel.CloseAsync();
        return ok.MessageCount;
    }

    /// <summary>Whether <paramref name="queue"/> exists, by passive declare on a throwaway channel (404 means no).</summary>
    public static async Task<bool> QueueExistsAsync(this IConnection connection, string queue)
    {
        await using var channel = await connection.CreateChannelAsync();
        try
        {
            await channel.QueueDeclarePassiveAsync(queue);
            await channel.CloseAsync();
            return true;
        }
        catch (OperationInterruptedException e) when (e.ShutdownReason?.ReplyCode == 404)
        {
            return false;
        }
    }

    /// <summary>Whether <paramref name="exchange"/> exists, by passive declare on a throwaway channel (404 means no).</summary>
    public static async Task<bool> ExchangeExistsAsync(this IConnection connection, string exchange)
    {
        await using var channel = await connection.CreateChannelAsync();
        try
        {
            await channel.ExchangeDeclarePassiveAsync(exchange);
            await channel.CloseAsync();
            return true;
        }
        catch (OperationInterruptedException e) when (e.ShutdownReason?.ReplyCode == 404)
        {
            return false;
        }
    }

    /// <summary>
    /// Runs a synchronous method that the server must refuse by closing the channel (or connection): returns the reason,
    /// after checking the reply code and, when given, the exact reply text.
    /// </summary>
    public static async Task<ShutdownEventArgs> RefusedAsync(Func<Task> action, ushort code, string? text = null)
    {
        var failure = await Assert.ThrowsAnyAsync<Exception>(action);
        var interrupted = Exceptions.Find<OperationInterruptedException>(failure);
        Assert.True(interrupted?.ShutdownReason is not null, "expected the server to close the channel: " + failure);
        AssertReason(interrupted.ShutdownReason, code, text);
        return interrupted.ShutdownReason;
    }

    public static void AssertReason(ShutdownEventArgs? reason, ushort code, string? text = null)
    {
        Assert.NotNull(reason);
        Assert.True(code == reason.ReplyCode, $"expected reply code {code}, got {reason}");
        Assert.Equal(ShutdownInitiator.Peer, reason.Initiator);
        if (text is not null)
        {
            Assert.Equal(ReplyText(text), reason.ReplyText);
        }
    }

    /// <summary>
    /// A reply text as it goes on the wire. reply-text is a shortstr, and RabbitMQ cuts a longer
    /// "CODE - explanation" to its first 252 bytes plus "..." (rabbit_binary_generator), exactly 255 bytes.
    /// </summary>
    public static string ReplyText(string full)
    {
        var bytes = System.Text.Encoding.UTF8.GetBytes(full);
        return bytes.Length <= 255 ? full : System.Text.Encoding.UTF8.GetString(bytes, 0, 252) + "...";
    }

    /// <summary>
    /// The reason the server closed <paramref name="channel"/>, for asynchronous methods (publish, ack) that have no
    /// reply to throw from. Closing the channel is the only outcome accepted within <see cref="Wait"/>.
    /// </summary>
    public static async Task<ShutdownEventArgs> ClosedByServerAsync(this IChannel channel, ushort code, string? text = null)
    {
        var closed = new TaskCompletionSource<ShutdownEventArgs>(TaskCreationOptions.RunContinuationsAsynchronously);
        channel.ChannelShutdownAsync += (_, args) =>
        {
            closed.TrySetResult(args);
            return Task.CompletedTask;
        };
        if (channel.CloseReason is { } already)
        {
            closed.TrySetResult(already);
        }

        var reason = await closed.Task.WaitAsync(Wait);
        AssertReason(reason, code, text);
        return reason;
    }

    /// <summary>The reason the server closed <paramref name="connection"/>, waiting at most <see cref="Wait"/>.</summary>
    public static async Task<ShutdownEventArgs> ClosedByServerAsync(this IConnection connection, ushort code, string? text = null)
    {
        var closed = new TaskCompletionSource<ShutdownEventArgs>(TaskCreationOptions.RunContinuationsAsynchronously);
        connection.ConnectionShutdownAsync += (_, args) =>
        {
            closed.TrySetResult(args);
            return Task.CompletedTask;
        };
        if (connection.CloseReason is { } already)
        {
            closed.TrySetResult(already);
        }

        var reason = await closed.Task.WaitAsync(Wait);
        AssertReason(reason, code, text);
        return reason;
    }

    /// <summary>True when the broker on the other end says it is RabbitMQ (for the few places Holdfast deliberately does more).</summary>
    public static bool IsRabbitMq(IConnection connection)
    {
        ArgumentNullException.ThrowIfNull(connection);
        return connection.ServerProperties is { } properties
            && properties.TryGetValue("product", out var product) && product is byte[] bytes
            && System.Text.Encoding.UTF8.GetString(bytes) == "RabbitMQ";
    }

    /// <summary>
    /// True when the broker says it is RabbitMQ older than <paramref name="major"/>.<paramref name="minor"/>, for the few
    /// behaviours RabbitMQ changed; every other broker (Holdfast included) is held to the newer behaviour.
    /// </summary>
    public static bool IsRabbitMqBefore(IConnection connection, int major, int minor)
    {
        ArgumentNullException.ThrowIfNull(connection);
        var properties = connection.ServerProperties;
        if (properties is null
            || !properties.TryGetValue("product", out var product) || product is not byte[] productBytes
            || System.Text.Encoding.UTF8.GetString(productBytes) != "RabbitMQ"
            || !properties.TryGetValue("version", out var version) || version is not byte[] versionBytes)
        {
            return false;
        }

        var parts = System.Text.Encoding.UTF8.GetString(versionBytes).Split('.');
        return parts.Length >= 2
            && int.TryParse(parts[0], System.Globalization.CultureInfo.InvariantCulture, out int actualMajor)
            && int.TryParse(parts[1], System.Globalization.CultureInfo.InvariantCulture, out int actualMinor)
            && (actualMajor < major || (actualMajor == major && actualMinor < minor));
    }

    /// <summary>Polls an asynchronous condition (every 20 ms) until it holds, failing after <see cref="Wait"/>.</summary>
    public static async Task EventuallyAsync(Func<Task<bool>> condition, string what)
    {
        var deadline = DateTime.UtcNow + Wait;
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"Not within {Wait.TotalSeconds:F1} s: {what}");
            }

            await Task.Delay(20);
        }
    }

    /// <summary>Proves a connection is healthy: a new channel declares, publishes to and gets from a queue.</summary>
    public static async Task AssertUsableAsync(IConnection connection)
    {
        Assert.True(connection.IsOpen, connection.CloseReason?.ToString());
        await using var channel = await connection.CreateConfirmingChannelAsync();
        var queue = await channel.DeclareQueueAsync("usable");
        await channel.PublishAsync("", queue, "still-alive");
        var got = await channel.BasicGetAsync(queue, autoAck: true);
        Assert.NotNull(got);
        Assert.Equal("still-alive", Text(got.Body));
        await channel.QueueDeleteAsync(queue);
        await channel.CloseAsync();
    }
}

/// <summary>One delivery, copied out of the client's buffers (the body memory is only valid inside the callback).</summary>
internal sealed record Delivery(string ConsumerTag, ulong DeliveryTag, bool Redelivered, string Exchange, string RoutingKey, IReadOnlyBasicProperties Properties, byte[] Body)
{
    public string Text => BrokerKit.Text(Body);
}

/// <summary>
/// A consumer that queues its deliveries for the test to read in order, and records server-sent basic.cancel
/// (consumer_cancel_notify) separately from the cancel-ok of a client-initiated cancel.
/// </summary>
internal sealed class ProbeConsumer : AsyncDefaultBasicConsumer
{
    private readonly System.Threading.Channels.Channel<Delivery> _deliveries = System.Threading.Channels.Channel.CreateUnbounded<Delivery>();
    private readonly TaskCompletionSource<string> _serverCancel = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource<string> _cancelOk = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _received;

    public ProbeConsumer(IChannel channel)
        : base(channel)
    {
    }

    /// <summary>How many deliveries have arrived so far (read or not).</summary>
    public int Received => Volatile.Read(ref _received);

    /// <summary>Whether the server has cancelled this consumer (basic.cancel from the broker).</summary>
    public bool IsServerCancelled => _serverCancel.Task.IsCompleted;

    /// <summary>Whether a basic.cancel-ok has arrived for this consumer.</summary>
    public bool IsCancelOk => _cancelOk.Task.IsCompleted;

#pragma warning disable VSTHRD003 // Our own TaskCompletionSources, completed by the client's dispatcher; nothing to deadlock on.

    /// <summary>The consumer tag of a server-sent basic.cancel, within <see cref="BrokerKit.Wait"/>.</summary>
    public Task<string> ServerCancelledAsync() => _serverCancel.Task.WaitAsync(BrokerKit.Wait);

    /// <summary>The consumer tag of basic.cancel-ok, within <see cref="BrokerKit.Wait"/>.</summary>
    public Task<string> CancelOkAsync() => _cancelOk.Task.WaitAsync(BrokerKit.Wait);
#pragma warning restore VSTHRD003

    /// <summary>The next delivery, within <see cref="BrokerKit.Wait"/>.</summary>
    public async Task<Delivery> NextAsync()
    {
        using var timeout = new CancellationTokenSource(BrokerKit.Wait);
        try
        {
            return await _deliveries.Reader.ReadAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"No delivery within {BrokerKit.Wait.TotalSeconds} s (received {Received} so far).");
        }
    }

    public async Task<List<Delivery>> NextAsync(int count)
    {
        var list = new List<Delivery>(count);
        for (int i = 0; i < count; i++)
        {
            list.Add(await NextAsync());
        }

        return list;
    }

    /// <summary>A delivery already waiting, without waiting for one.</summary>
    public bool TryTake(out Delivery? delivery) => _deliveries.Reader.TryRead(out delivery);

    public override Task HandleBasicDeliverAsync(string consumerTag, ulong deliveryTag, bool redelivered, string exchange, string routingKey, IReadOnlyBasicProperties properties, ReadOnlyMemory<byte> body, CancellationToken cancellationToken = default)
    {
        Interlocked.Increment(ref _received);
        _deliveries.Writer.TryWrite(new Delivery(consumerTag, deliveryTag, redelivered, exchange, routingKey, new BasicProperties(properties), body.ToArray()));
        return Task.CompletedTask;
    }

    public override async Task HandleBasicCancelAsync(string consumerTag, CancellationToken cancellationToken = default)
    {
        _serverCancel.TrySetResult(consumerTag);
        await base.HandleBasicCancelAsync(consumerTag, cancellationToken);
    }

    public override async Task HandleBasicCancelOkAsync(string consumerTag, CancellationToken cancellationToken = default)
    {
        _cancelOk.TrySetResult(consumerTag);
        await base.HandleBasicCancelOkAsync(consumerTag, cancellationToken);
    }
}
