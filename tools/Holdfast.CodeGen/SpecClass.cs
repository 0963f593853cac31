namespace Holdfast.CodeGen;

/// <param name="Properties">Content header properties, in flag-bit order; empty for classes without content.</param>
public sealed record SpecClass(string Name, int Id, IReadOnlyList<SpecMethod> Methods, IReadOnlyList<SpecField> Properties);
