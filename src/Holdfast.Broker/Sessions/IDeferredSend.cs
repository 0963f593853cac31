namespace Holdfast.Broker.Sessions;

/// <summary>Output that was asked to go out inside a <see cref="SendBatch"/> and goes out when the batch ends.</summary>
public interface IDeferredSend
{
    /// <summary>Sends what is pending, on the calling thread, which holds no lock of the broker's. Must not throw.</summary>
    void SendNow();

    /// <summary>Has another thread send what is pending (the thread pool): for what a batch could not send itself.</summary>
    void SendSoon();
}
