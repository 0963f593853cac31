namespace Holdfast.Amqp.Connection;

/// <summary>
/// What the server offers in connection.tune and how long it waits for a peer. Defaults are
/// RabbitMQ's: channel-max 2047, frame-max 128 KiB, heartbeat 60 s, handshake timeout 10 s.
/// </summary>
public sealed record AmqpServerOptions
{
    /// <summary>Highest channel number a client may open; 0 offers "no limit" (65535).</summary>
    public ushort ChannelMax { get; init; } = 2047;

    /// <summary>Largest frame, header and frame-end included. At least 4096 (the spec's frame-min-size).</summary>
    public uint FrameMaxBytes { get; init; } = 128 * 1024;

    /// <summary>Heartbeat suggested in connection.tune; the client's tune-ok value is what is used.</summary>
    public TimeSpan Heartbeat { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>From the first byte to connection.open-ok; a peer that stalls before that is dropped.</summary>
    public TimeSpan HandshakeTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>How long the server waits for close-ok (and for its last frames to drain) after it sends a close.</summary>
    public TimeSpan CloseTimeout { get; init; } = TimeSpan.FromSeconds(3);

    /// <summary>
    /// Bytes of frames waiting for a peer that does not read before the connection is dropped: output
    /// is bounded like everything else.
    /// </summary>
    public int MaxPendingOutputBytes { get; init; } = 16 * 1024 * 1024;

    /// <summary>Virtual hosts a connection.open may name. Later these come from the broker.</summary>
    public IReadOnlySet<string> VirtualHosts { get; init; } = new HashSet<string>(StringComparer.Ordinal) { "/" };

    public string ProductVersion { get; init; } = "0.1.0";

    /// <exception cref="ArgumentOutOfRangeException">A value outside what the protocol can carry.</exception>
    public void Validate()
    {
        if (FrameMaxBytes < Codec.AmqpConstants.FrameMinSize)
        {
            throw new ArgumentOutOfRangeException(nameof(FrameMaxBytes), FrameMaxBytes, $"frame-max is at least {Codec.AmqpConstants.FrameMinSize}.");
        }

        if (Heartbeat < TimeSpan.Zero || Heartbeat.TotalSeconds > ushort.MaxValue)
        {
            throw new ArgumentOutOfRangeException(nameof(Heartbeat), Heartbeat, "The heartbeat is 0 to 65535 seconds.");
        }

        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(HandshakeTimeout, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(CloseTimeout, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxPendingOutputBytes, 64 * 1024);
    }
}
