namespace Holdfast.Testing;

/// <summary>How a test brings a store back: through a clean close (final checkpoint), or from the files a crash would leave.</summary>
public enum ReopenMode
{
    AfterClose,
    FromCrashImage,
}
