namespace Holdfast.Amqp.Tests.Support;

internal static class RepositoryPaths
{
    /// <summary>The folder holding Holdfast.slnx, found by walking up from the test binaries.</summary>
    public static string Root { get; } = FindRoot();

    private static string FindRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "Holdfast.slnx")))
            {
                return directory.FullName;
            }
        }

        throw new InvalidOperationException($"No Holdfast.slnx above {AppContext.BaseDirectory}.");
    }
}
