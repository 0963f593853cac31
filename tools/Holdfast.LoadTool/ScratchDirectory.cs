namespace Holdfast.LoadTool;

/// <summary>
/// The directory a run writes into. It must be new or empty, because it is deleted at the end
/// (unless kept): the tool never deletes anything it did not create.
/// </summary>
internal sealed class ScratchDirectory : IDisposable
{
    private readonly bool _keep;

    public ScratchDirectory(string path, bool keep)
    {
        Path = System.IO.Path.GetFullPath(path);
        _keep = keep;
        if (Directory.Exists(Path) && Directory.EnumerateFileSystemEntries(Path).Any())
        {
            throw new IOException($"{Path} exists and is not empty; the load tool deletes its directory when done, so give it a new one.");
        }

        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public string Sub(string name) => System.IO.Path.Combine(Path, name);

    public void Dispose()
    {
        if (!_keep && Directory.Exists(Path))
        {
            Directory.Delete(Path, recursive: true);
        }
    }
}
