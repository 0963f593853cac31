namespace Holdfast.Storage;

/// <summary>
/// The store hit a write or fsync error it cannot prove harmless. The failure sticks: this append
/// and every later one fail with it, because after a failed fsync the kernel may already have dropped
/// the unsynced pages and retrying would report durability that does not exist. Reopen the store
/// (which re-reads and verifies what reached the disk) to continue.
/// </summary>
public sealed class StorageFailedException : IOException
{
    public StorageFailedException()
        : base("The store has failed and accepts no more writes.")
    {
    }

    public StorageFailedException(string message)
        : base(message)
    {
    }

    public StorageFailedException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
