using System.Collections.Concurrent;
using System.Globalization;
using System.Net.Sockets;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;
using RabbitMQ.Client.Exceptions;

namespace Holdfast.LoadTool.Amqp;

/// <summary>
/// idle-connections: N connections with one open channel each and nothing else on them but heartbeats. Records
/// every connection that shuts down before <see cref="CloseAllAsync"/>, with who shut it (the broker, or the client
/// library, which is what a missed broker heartbeat looks like) and why.
/// </summary>
internal sealed class IdleConnections
{
    /// <summary>Connections opened at once: enough to open 10,000 in seconds, few enough not to look like a SYN flood.</summary>
    public const int OpenConcurrency = 64;

    /// <summary>How long a close may wait for close-ok: a broker that stopped answering must not hold the run for hours.</summary>
    private static readonly TimeSpan CloseTimeout = TimeSpan.FromSeconds(10);

    private readonly Slot?[] _slots;
    private readonly ConcurrentDictionary<string, int> _lostReasons = new(StringComparer.Ordinal);
    private int _lost;
    private int _channelsLost;
    private volatile bool _closing;

    private IdleConnections(int count) => _slots = new Slot?[count];

    public int Requested => _slots.Length;

    public int Opened => _slots.Count(s => s is not null);

    public int OpenNow => _slots.Count(s => s is { Connection.IsOpen: true });

    public int ChannelsOpenNow => _slots.Count(s => s is { Channel.IsOpen: true });

    /// <summary>Connections that shut down while idle (before the run closed them).</summary>
    public int Lost => Volatile.Read(ref _lost);

    /// <summary>Channels that shut down while idle, their connections' shutdowns included.</summary>
    public int ChannelsLost => Volatile.Read(ref _channelsLost);

    /// <summary>"initiator: code text (exception)" of each loss, counted; null when nothing was lost.</summary>
    public IReadOnlyDictionary<string, int>? LostReasons => _lostReasons.IsEmpty ? null : new SortedDictionary<string, int>(_lostReasons, StringComparer.Ordinal);

    /// <summary>The heartbeat the connections agreed with the broker (the lowest, should they differ), in seconds.</summary>
    public double? NegotiatedHeartbeatSeconds
    {
        get
        {
            var opened = _slots.OfType<Slot>().ToArray();
            return opened.Length == 0 ? null : opened.Min(s => s.Connection.Heartbeat.TotalSeconds);
        }
    }

    /// <summary>
    /// Opens <paramref name="count"/> connections from <paramref name="factory"/>, <see cref="OpenConcurrency"/> at a
    /// time. If one fails, those already open are closed and the error says how far it got and what to check.
    /// </summary>
    public static async Task<IdleConnections> OpenAsync(ConnectionFactory factory, int count, CancellationToken cancellation)
    {
        ArgumentNullException.ThrowIfNull(factory);
        var idle = new IdleConnections(count);
        try
        {
            var parallel = new ParallelOptions { MaxDegreeOfParallelism = OpenConcurrency, CancellationToken = cancellation };
            await Parallel.ForEachAsync(Enumerable.Range(0, count), parallel, async (i, token) =>
            {
                idle._slots[i] = await idle.OpenOneAsync(factory, i, token).ConfigureAwait(false);
            }).ConfigureAwait(false);
            return idle;
        }
        catch (Exception ex)
        {
            var opened = idle.Opened;
            await idle.CloseAllAsync().ConfigureAwait(false);
            if (ex is OperationCanceledException && cancellation.IsCancellationRequested)
            {
                throw;
            }

            throw new InvalidOperationException(OpenFailure(opened, count, ex), ex);
        }
    }

    /// <summary>Closes every connection still open, <see cref="OpenConcurrency"/> at a time; losses stop being counted first.</summary>
    public async Task CloseAllAsync()
    {
        _closing = true;
        var parallel = new ParallelOptions { MaxDegreeOfParallelism = OpenConcurrency };
        await Parallel.ForEachAsync(_slots.OfType<Slot>(), parallel, static async (slot, _) => await slot.CloseAsync().ConfigureAwait(false)).ConfigureAwait(false);
    }

    private async Task<Slot> OpenOneAsync(ConnectionFactory factory, int id, CancellationToken cancellation)
    {
        var connection = await factory.CreateConnectionAsync($"holdfast-load idle {id}", cancellation).ConfigureAwait(false);
        try
        {
            connection.ConnectionShutdownAsync += OnConnectionShutdownAsync;
            var channel = await connection.CreateChannelAsync(cancellationToken: cancellation).ConfigureAwait(false);
            channel.ChannelShutdownAsync += OnChannelShutdownAsync;
            return new Slot(connection, channel);
        }
        catch
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    private Task OnConnectionShutdownAsync(object sender, ShutdownEventArgs args)
    {
        if (!_closing)
        {
            Interlocked.Increment(ref _lost);
            _lostReasons.AddOrUpdate(Reason(args), 1, static (_, n) => n + 1);
        }

        return Task.CompletedTask;
    }

    private Task OnChannelShutdownAsync(object sender, ShutdownEventArgs args)
    {
        if (!_closing)
        {
            Interlocked.Increment(ref _channelsLost);
        }

        return Task.CompletedTask;
    }

    /// <summary>
    /// Who ended the connection and why: "peer" is the broker closing it, "library" the client giving up on it (a
    /// missed heartbeat reads "library: 0 End of stream (EndOfStreamException: Heartbeat missing ...)").
    /// </summary>
    private static string Reason(ShutdownEventArgs args)
    {
        var initiator = args.Initiator.ToString().ToLowerInvariant();
        var cause = args.Exception is { } ex ? $" ({ex.GetType().Name}: {ex.Message})" : string.Empty;
        return string.Create(CultureInfo.InvariantCulture, $"{initiator}: {args.ReplyCode} {args.ReplyText}{cause}");
    }

    private static string OpenFailure(int opened, int count, Exception ex)
    {
        var causes = Causes(ex).ToArray();
        var text = string.Join(" <- ", causes.Select(c => $"{c.GetType().Name}: {c.Message}").Distinct(StringComparer.Ordinal));
        var limit = OwnDescriptorLimit();
        var ownLimit = limit is null ? string.Empty : $" (this process's limit is {limit})";
        var outOfDescriptors = causes.Any(c => c is SocketException { SocketErrorCode: SocketError.TooManyOpenSockets }
            || c.Message.Contains("Too many open files", StringComparison.OrdinalIgnoreCase));
        var hint = outOfDescriptors
            ? $"This process ran out of file descriptors (EMFILE){ownLimit}: every connection needs one, here and in the broker. Raise the limit with `ulimit -n` (e.g. `ulimit -n 1048576`) in the shell that runs holdfast-load, and in the broker's too."
            : $"Every connection needs a file descriptor here and in the broker: a broker out of descriptors refuses, resets or stalls new connections. Check the broker's log and its `ulimit -n`, and this shell's{ownLimit}.";
        return $"idle-connections: opened {opened} of {count} connections, then one failed: {text}. {hint}";
    }

    private static IEnumerable<Exception> Causes(Exception ex)
    {
        var pending = new Stack<Exception>();
        pending.Push(ex);
        while (pending.TryPop(out var current))
        {
            yield return current;
            if (current is AggregateException aggregate)
            {
                foreach (var inner in aggregate.InnerExceptions.Reverse())
                {
                    pending.Push(inner);
                }
            }
            else if (current.InnerException is { } inner)
            {
                pending.Push(inner);
            }
        }
    }

    /// <summary>The soft "Max open files" of this process, from /proc/self/limits (Linux), for the error message.</summary>
    private static string? OwnDescriptorLimit()
    {
        try
        {
            // "Max open files            1024                 1048576              files"
            var line = File.ReadLines("/proc/self/limits").FirstOrDefault(l => l.StartsWith("Max open files", StringComparison.Ordinal));
            return line?["Max open files".Length..].Trim().Split(' ', StringSplitOptions.RemoveEmptyEntries).FirstOrDefault();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    private sealed record Slot(IConnection Connection, IChannel Channel)
    {
        public async Task CloseAsync()
        {
            try
            {
                if (Connection.IsOpen)
                {
                    // connection.close ends the channel with it: one round trip instead of two.
                    await Connection.CloseAsync(CloseTimeout).ConfigureAwait(false);
                }
            }
            catch (Exception ex) when (ex is AlreadyClosedException or OperationInterruptedException or OperationCanceledException or IOException or TimeoutException)
            {
                // The figures are already taken; a connection the broker dropped has nothing left to close.
            }

            await Channel.DisposeAsync().ConfigureAwait(false);
            await Connection.DisposeAsync().ConfigureAwait(false);
        }
    }
}
