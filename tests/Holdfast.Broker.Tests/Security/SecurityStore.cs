using Holdfast.Broker.Security;
using Holdfast.Storage;

namespace Holdfast.Broker.Tests.Security;

/// <summary>A store in a fresh temporary directory that a test can close and reopen, deleted at the end.</summary>
internal sealed class SecurityStore : IAsyncDisposable
{
    /// <summary>Cheap hashing: the tests are about behaviour, and PBKDF2's cost is not what they measure.</summary>
    public static readonly SecurityOptions FastOptions = new() { PasswordIterations = 1_000 };

    private SecurityStore(string directory, MessageStore store)
    {
        Directory = directory;
        Store = store;
    }

    public string Directory { get; }

    public MessageStore Store { get; private set; }

    public static async Task<SecurityStore> CreateAsync()
    {
        var directory = Path.Combine(Path.GetTempPath(), $"holdfast-security-{Guid.NewGuid():N}");
        System.IO.Directory.CreateDirectory(directory);
        return new SecurityStore(directory, await MessageStore.OpenAsync(Options(directory)));
    }

    public Task<UserDirectory> LoadAsync(SecurityOptions? options = null, TimeProvider? time = null) =>
        UserDirectory.LoadAsync(Store, time, options ?? FastOptions);

    /// <summary>Closes the store and opens it again from its files, as a broker restart does.</summary>
    public async Task<UserDirectory> RestartAsync(SecurityOptions? options = null)
    {
        await Store.DisposeAsync();
        Store = await MessageStore.OpenAsync(Options(Directory));
        return await LoadAsync(options);
    }

    /// <summary>
    /// Opens a copy of the files as they are now, with this store still open: what a crash at this
    /// moment would leave, without the close and final checkpoint of a clean shutdown.
    /// </summary>
    public async Task<MessageStore> OpenCrashImageAsync()
    {
        var destination = Directory + "-crash";
        foreach (var directory in System.IO.Directory.GetDirectories(Directory, "*", SearchOption.AllDirectories))
        {
            System.IO.Directory.CreateDirectory(Path.Combine(destination, Path.GetRelativePath(Directory, directory)));
        }

        foreach (var file in System.IO.Directory.GetFiles(Directory, "*", SearchOption.AllDirectories))
        {
            var target = Path.Combine(destination, Path.GetRelativePath(Directory, file));
            System.IO.Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target, overwrite: true);
        }

        return await MessageStore.OpenAsync(Options(destination));
    }

    public async ValueTask DisposeAsync()
    {
        await Store.DisposeAsync();
        foreach (var directory in new[] { Directory, Directory + "-crash" })
        {
            try
            {
                if (System.IO.Directory.Exists(directory))
                {
                    System.IO.Directory.Delete(directory, recursive: true);
                }
            }
            catch (IOException)
            {
                // Left for the OS to clean; a test's result does not depend on it.
            }
        }
    }

    private static StoreOptions Options(string directory) => new() { Directory = directory, SegmentSizeBytes = 1 << 20 };
}
