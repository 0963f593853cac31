namespace Holdfast.Amqp.Connection;

/// <summary>Where a connection is in its life; the order is the handshake's.</summary>
internal enum ConnectionState
{
    AwaitingProtocolHeader,
    AwaitingStartOk,
    AwaitingTuneOk,
    AwaitingOpen,
    Open,

    /// <summary>The server sent connection.close and waits for close-ok, discarding everything else.</summary>
    Closing,
    Closed,
}
