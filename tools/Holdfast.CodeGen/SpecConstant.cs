namespace Holdfast.CodeGen;

/// <param name="ErrorClass">"soft-error" or "hard-error" for reply codes that close a channel or the connection; null otherwise.</param>
public sealed record SpecConstant(string Name, int Value, string? ErrorClass);
