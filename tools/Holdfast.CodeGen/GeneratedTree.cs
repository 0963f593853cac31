namespace Holdfast.CodeGen;

/// <summary>The output folder: written from generated files, or compared with them.</summary>
public static class GeneratedTree
{
    /// <summary>Writes every file and deletes .cs files the generator no longer produces.</summary>
    public static void Write(string outputDirectory, IReadOnlyList<GeneratedFile> files)
    {
        var expected = new HashSet<string>(files.Select(f => FullPath(outputDirectory, f)), StringComparer.Ordinal);
        if (Directory.Exists(outputDirectory))
        {
            foreach (string stale in Directory.EnumerateFiles(outputDirectory, "*.cs", SearchOption.AllDirectories).Where(p => !expected.Contains(Path.GetFullPath(p))))
            {
                File.Delete(stale);
            }
        }

        foreach (var file in files)
        {
            string path = FullPath(outputDirectory, file);
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            File.WriteAllText(path, file.Content);
        }
    }

    /// <summary>Every difference between the folder and the generated files: missing, changed, extra. Empty when they match.</summary>
    public static IReadOnlyList<string> Compare(string outputDirectory, IReadOnlyList<GeneratedFile> files)
    {
        var differences = new List<string>();
        var expected = new HashSet<string>(StringComparer.Ordinal);
        foreach (var file in files)
        {
            string path = FullPath(outputDirectory, file);
            expected.Add(path);
            if (!File.Exists(path))
            {
                differences.Add($"missing: {file.RelativePath}");
            }
            else if (File.ReadAllText(path) != file.Content)
            {
                differences.Add($"differs: {file.RelativePath}");
            }
        }

        if (Directory.Exists(outputDirectory))
        {
            differences.AddRange(Directory.EnumerateFiles(outputDirectory, "*.cs", SearchOption.AllDirectories)
                .Select(Path.GetFullPath)
                .Where(p => !expected.Contains(p))
                .Order(StringComparer.Ordinal)
                .Select(p => $"not generated: {Path.GetRelativePath(outputDirectory, p)}"));
        }

        return differences;
    }

    private static string FullPath(string outputDirectory, GeneratedFile file) =>
        Path.GetFullPath(Path.Combine(outputDirectory, file.RelativePath.Replace('/', Path.DirectorySeparatorChar)));
}
