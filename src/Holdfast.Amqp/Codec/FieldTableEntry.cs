namespace Holdfast.Amqp.Codec;

/// <summary>One name/value pair of a <see cref="FieldTable"/>.</summary>
public readonly record struct FieldTableEntry(ShortString Name, FieldValue Value);
