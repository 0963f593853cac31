namespace Holdfast.CodeGen;

/// <param name="Type">The wire type, domains resolved: one of <see cref="AmqpSpec.WireTypes"/>.</param>
/// <param name="DefaultValue">The spec's default as a person would write it, for doc comments; null if none.</param>
public sealed record SpecField(string Name, string Type, string? DefaultValue);
