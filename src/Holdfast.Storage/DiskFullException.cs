namespace Holdfast.Storage;

/// <summary>
/// An append could not be stored because the volume is full. Nothing already confirmed is
/// affected, and appends are tried again as soon as they are made: once space is freed they succeed.
/// </summary>
public sealed class DiskFullException : IOException
{
    public DiskFullException()
        : base("The disk is full: the record was not stored. Free space and retry.")
    {
    }

    public DiskFullException(string message)
        : base(message)
    {
    }

    public DiskFullException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
