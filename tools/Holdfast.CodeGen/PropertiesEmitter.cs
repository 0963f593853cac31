namespace Holdfast.CodeGen;

/// <summary>
/// Content header properties of a class: one optional value per property and the property-flags
/// word that says which are present. The first property is flag bit 15, the next bit 14, and so
/// on; bit 0 would announce a further flags word, which only a class with more than 15 properties
/// needs, so such a class stops the generator rather than being half supported.
/// </summary>
public static class PropertiesEmitter
{
    private const int FlagBitsPerWord = 15;

    public static GeneratedFile Emit(SpecClass specClass)
    {
        var properties = specClass.Properties;
        if (properties.Count > FlagBitsPerWord)
        {
            throw new InvalidDataException($"{specClass.Name} has {properties.Count} properties; continuation flag words are not generated.");
        }

        if (properties.Any(p => p.Type == "bit"))
        {
            throw new InvalidDataException($"{specClass.Name} has a bit property, whose value is its flag; not generated.");
        }

        string name = Names.Pascal(specClass.Name) + "Properties";
        string unusedMask = Names.Hex((uint)((1 << (16 - properties.Count)) - 1), 4);
        var code = new CodeBuilder().FileHeader();
        code.Line($"/// <summary>The {properties.Count} content header properties of the {specClass.Name} class; null means absent.</summary>");
        code.Open($"public readonly record struct {name}");
        foreach (var property in properties)
        {
            var wire = WireType.For(property.Type);
            code.Line($"/// <summary>{property.Name} ({property.Type}), flag {Names.Hex(Flag(properties, property), 4)}.</summary>");
            code.Line($"public {wire.CSharpType}? {Names.Pascal(property.Name)} {{ get; init; }}");
            code.Line();
        }

        code.Line("/// <summary>The property-flags word: one bit per present property, from bit 15 down.</summary>");
        code.Line("public ushort PropertyFlags => (ushort)(");
        for (int i = 0; i < properties.Count; i++)
        {
            string separator = i == properties.Count - 1 ? ");" : string.Empty;
            string or = i == 0 ? "    " : "    | ";
            code.Line($"{or}({Names.Pascal(properties[i].Name)} is null ? 0 : {Names.Hex(Flag(properties, properties[i]), 4)}){separator}");
        }

        code.Line();
        code.Line("/// <summary>Encoded length: the flags word and the present properties.</summary>");
        code.Open("public int GetByteCount()");
        code.Line("int count = 2;");
        foreach (var property in properties)
        {
            string local = Names.Local(property.Name);
            code.Open($"if ({Names.Pascal(property.Name)} is {{ }} {local})");
            code.Line($"count += {WireType.For(property.Type).SizeOf(local)};");
            code.Close();
            code.Line();
        }

        code.Line("return count;");
        code.Close();
        code.Line();
        code.Open("internal void Write(ref ArgumentWriter writer)");
        code.Line("writer.WriteUInt16(PropertyFlags);");
        foreach (var property in properties)
        {
            string local = Names.Local(property.Name);
            code.Open($"if ({Names.Pascal(property.Name)} is {{ }} {local})");
            code.Line($"writer.{WireType.For(property.Type).WriteMethod}({local});");
            code.Close();
            code.Line();
        }

        code.Close();
        code.Line();
        code.Line("/// <summary>Reads the flags word and the properties it announces; a flag for no property is a frame error.</summary>");
        code.Open($"internal static bool TryRead(ref ArgumentReader reader, out {name} properties)");
        code.Line("properties = default;");
        code.Open("if (!reader.TryReadUInt16(\"property-flags\", out ushort flags))");
        code.Line("return false;");
        code.Close();
        code.Line();
        code.Open($"if ((flags & {unusedMask}) != 0)");
        code.Line($"return reader.Fail(ReplyCode.FrameError, \"property-flags\", $\"0x{{flags:X4}} sets bits that name no {specClass.Name} property (mask {unusedMask})\");");
        code.Close();
        code.Line();
        foreach (var property in properties)
        {
            var wire = WireType.For(property.Type);
            string local = Names.Local(property.Name);
            code.Line($"{wire.CSharpType}? {local} = null;");
            code.Open($"if ((flags & {Names.Hex(Flag(properties, property), 4)}) != 0)");
            code.Open($"if (!reader.{wire.ReadMethod}({Names.Literal(property.Name)}, out {wire.CSharpType} value))");
            code.Line("return false;");
            code.Close();
            code.Line();
            code.Line($"{local} = value;");
            code.Close();
            code.Line();
        }

        code.Line($"properties = new {name}");
        code.Line("{");
        foreach (var property in properties)
        {
            code.Line($"    {Names.Pascal(property.Name)} = {Names.Local(property.Name)},");
        }

        code.Line("};");
        code.Line("return true;");
        code.Close();
        code.Close();
        return new GeneratedFile($"{name}.cs", code.ToString());
    }

    private static uint Flag(IReadOnlyList<SpecField> properties, SpecField property)
    {
        int index = properties.ToList().IndexOf(property);
        return 1u << (15 - index);
    }
}
