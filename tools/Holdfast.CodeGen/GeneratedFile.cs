namespace Holdfast.CodeGen;

/// <param name="RelativePath">Path under the output folder, with '/' separators.</param>
public sealed record GeneratedFile(string RelativePath, string Content);
