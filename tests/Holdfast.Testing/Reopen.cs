using Holdfast.Storage;

namespace Holdfast.Testing;

/// <summary>Closes or "crashes" an open store and opens what is left, so one test covers both the checkpoint and the replay path.</summary>
public static class Reopen
{
    /// <summary>
    /// <see cref="ReopenMode.AfterClose"/>: disposes the store and opens its directory again.
    /// <see cref="ReopenMode.FromCrashImage"/>: copies the open store's files first (everything written
    /// so far, nothing checkpointed at close), disposes the original, and opens the copy: what a process
    /// crash at this moment leaves. Callers await their operations first, so nothing is in flight.
    /// </summary>
    public static async Task<MessageStore> Async(MessageStore store, ReopenMode mode)
    {
        ArgumentNullException.ThrowIfNull(store);
        var options = store.Options;
        if (mode == ReopenMode.AfterClose)
        {
            await store.DisposeAsync();
            return await MessageStore.OpenAsync(options);
        }

        var image = $"{options.Directory.TrimEnd(Path.DirectorySeparatorChar)}-crash-{Guid.NewGuid():N}";
        StoreDirectory.Copy(options.Directory, image);
        await store.DisposeAsync();
        return await MessageStore.OpenAsync(options with { Directory = image });
    }
}
