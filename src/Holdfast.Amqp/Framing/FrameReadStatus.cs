namespace Holdfast.Amqp.Framing;

public enum FrameReadStatus
{
    /// <summary>A whole frame was read and the input advanced past it.</summary>
    Frame,

    /// <summary>The input ends inside a frame; nothing was consumed. Read more and call again.</summary>
    NeedMoreData,

    /// <summary>The input is not a valid frame; the connection must be closed with the error.</summary>
    Error,
}
