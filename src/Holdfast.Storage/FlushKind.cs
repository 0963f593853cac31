namespace Holdfast.Storage;

public enum FlushKind
{
    Sync,
    Interval,
    Async,
}
