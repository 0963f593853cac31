namespace Holdfast.CodeGen;

public sealed record SpecMethod(string Name, int Id, bool Synchronous, bool HasContent, IReadOnlyList<SpecField> Arguments);
