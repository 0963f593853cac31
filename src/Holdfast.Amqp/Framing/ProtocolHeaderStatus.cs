namespace Holdfast.Amqp.Framing;

public enum ProtocolHeaderStatus
{
    /// <summary>"AMQP" 0 0 9 1 was read and consumed.</summary>
    Accepted,

    /// <summary>Fewer than 8 bytes so far, all of them consistent with the 0-9-1 header; nothing consumed.</summary>
    NeedMoreData,

    /// <summary>
    /// Another protocol or version. Per the spec the server answers with the header it does speak
    /// and closes the socket. Nothing consumed.
    /// </summary>
    Unsupported,
}
