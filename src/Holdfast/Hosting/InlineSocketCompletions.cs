namespace Holdfast.Hosting;

/// <summary>
/// The runtime's half of <see cref="HoldfastServerOptions.InlineIo"/>: on Linux and macOS, .NET completes a socket
/// operation on one of its event threads and then, by default, hands the continuation to the thread pool. With
/// <c>DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS=1</c> it runs the continuation on the event thread itself (and keeps
/// one event thread per processor), so a frame that arrives is parsed and appended without waking another thread.
/// </summary>
/// <remarks>
/// The runtime reads the variable once, when the first socket is registered, and it applies to every socket in the
/// process: that is why only the broker's own executable sets it (an embedding host's other sockets may run code that
/// blocks), and why it must be set before the listener opens. An operator's own value, either way, is left alone.
/// </remarks>
internal static class InlineSocketCompletions
{
    public const string EnvironmentVariable = "DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS";

    /// <summary>Sets the variable for this process unless it is already set.</summary>
    public static void EnableUnlessSet()
    {
        if (Environment.GetEnvironmentVariable(EnvironmentVariable) is null)
        {
            Environment.SetEnvironmentVariable(EnvironmentVariable, "1");
        }
    }
}
