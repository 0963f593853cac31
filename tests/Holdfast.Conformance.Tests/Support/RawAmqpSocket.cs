using System.Buffers;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Holdfast.Amqp.Codec;
using Holdfast.Amqp.Framing;

namespace Holdfast.Conformance.Tests.Support;

/// <summary>
/// A client that says exactly what a test tells it to, for the inputs a real client never sends:
/// wrong headers, broken frames, silence. Reads whole frames with the codec's own reader.
/// </summary>
internal sealed class RawAmqpSocket : IAsyncDisposable
{
    private readonly Socket _socket;
    private readonly byte[] _receive = new byte[64 * 1024];
    private byte[] _pending = [];

    private RawAmqpSocket(Socket socket) => _socket = socket;

    public static async Task<RawAmqpSocket> ConnectAsync(int port)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port));
        return new RawAmqpSocket(socket);
    }

    public async Task SendAsync(ReadOnlyMemory<byte> bytes)
    {
        while (!bytes.IsEmpty)
        {
            int sent = await _socket.SendAsync(bytes, SocketFlags.None);
            bytes = bytes[sent..];
        }
    }

    public Task SendMethodAsync<TMethod>(ushort channel, TMethod method)
        where TMethod : struct, IAmqpMethod
    {
        var output = new ArrayBufferWriter<byte>();
        FrameWriter.WriteMethod(output, channel, method, 131072);
        return SendAsync(output.WrittenMemory);
    }

    /// <summary>The next whole frame, or null when the server closed the socket first.</summary>
    public async Task<RawFrame?> ReadFrameAsync(TimeSpan timeout)
    {
        using var deadline = new CancellationTokenSource(timeout);
        while (true)
        {
            if (TryCutFrame(out var frame))
            {
                return frame;
            }

            int read = await _socket.ReceiveAsync(_receive, SocketFlags.None, deadline.Token);
            if (read == 0)
            {
                return null;
            }

            _pending = [.. _pending, .. _receive.AsSpan(0, read)];
        }
    }

    /// <summary>Bytes until the server closes the socket; throws if it has not within <paramref name="timeout"/>.</summary>
    public async Task<byte[]> ReadToEndAsync(TimeSpan timeout)
    {
        using var deadline = new CancellationTokenSource(timeout);
        var all = new List<byte>(_pending);
        _pending = [];
        while (true)
        {
            int read;
            try
            {
                read = await _socket.ReceiveAsync(_receive, SocketFlags.None, deadline.Token);
            }
            catch (SocketException)
            {
                // A reset after the server's last bytes still means "closed".
                return [.. all];
            }

            if (read == 0)
            {
                return [.. all];
            }

            all.AddRange(_receive.AsSpan(0, read));
        }
    }

    /// <summary>Header, start-ok (PLAIN guest/guest), tune-ok with <paramref name="heartbeatSeconds"/>, open "/": an open connection.</summary>
    public async Task HandshakeAsync(ushort heartbeatSeconds = 0)
    {
        await SendAsync(ProtocolHeader.Amqp091.ToArray());
        await ExpectMethodAsync(AmqpMethodId.ConnectionStart);
        var capabilities = new FieldTable(new FieldTableEntry("authentication_failure_close", FieldValue.FromBoolean(true)));
        var properties = new FieldTable(new FieldTableEntry("capabilities", FieldValue.FromTable(capabilities)));
        await SendMethodAsync(0, new ConnectionStartOk(properties, "PLAIN", new LongString(Encoding.UTF8.GetBytes("\0guest\0guest")), "en_US"));
        await ExpectMethodAsync(AmqpMethodId.ConnectionTune);
        await SendMethodAsync(0, new ConnectionTuneOk(2047, 131072, heartbeatSeconds));
        await SendMethodAsync(0, new ConnectionOpen("/", ShortString.Empty, false));
        await ExpectMethodAsync(AmqpMethodId.ConnectionOpenOk);
    }

    public async Task<RawFrame> ExpectMethodAsync(AmqpMethodId expected)
    {
        var frame = await ReadFrameAsync(TimeSpan.FromSeconds(5)) ?? throw new InvalidOperationException($"The server closed the socket; expected {AmqpMethodInfo.Name(expected)}.");
        Assert.Equal(FrameType.Method, frame.Type);
        Assert.Equal(AmqpMethodInfo.Name(expected), AmqpMethodInfo.Name(frame.MethodId));
        return frame;
    }

    public async ValueTask DisposeAsync()
    {
        _socket.Dispose();
        await Task.CompletedTask;
    }

    private bool TryCutFrame(out RawFrame frame)
    {
        var reader = new SequenceReader<byte>(new ReadOnlySequence<byte>(_pending));
        var status = FrameReader.TryReadFrame(ref reader, 1 << 20, out var read, out var error);
        if (status == FrameReadStatus.Error)
        {
            throw new InvalidOperationException("The server sent a broken frame: " + error);
        }

        if (status == FrameReadStatus.NeedMoreData)
        {
            frame = null!;
            return false;
        }

        frame = new RawFrame(read.Type, read.Channel, read.Payload.ToArray());
        _pending = _pending[(int)reader.Consumed..];
        return true;
    }
}
