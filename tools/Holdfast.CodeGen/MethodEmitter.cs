using System.Globalization;

namespace Holdfast.CodeGen;

/// <summary>One <c>readonly record struct</c> per method: fields, size, encoder, decoder.</summary>
public static class MethodEmitter
{
    private const string EncodedParameter = "encodedArguments";

    /// <summary>Names the decoder uses itself, which no field's local may take.</summary>
    private static readonly HashSet<string> DecoderNames = new(StringComparer.Ordinal) { EncodedParameter, "reader", "method", "error" };

    public static GeneratedFile Emit(SpecClass specClass, SpecMethod method)
    {
        string name = Names.Struct(specClass, method);
        string dotted = Names.Dotted(specClass, method);
        var layout = ArgumentLayout.Of(method.Arguments);
        var clash = method.Arguments.FirstOrDefault(f => DecoderNames.Contains(Names.Local(f.Name)) || Names.Local(f.Name).StartsWith("bits", StringComparison.Ordinal));
        if (clash is not null)
        {
            throw new InvalidDataException($"{dotted}.{clash.Name}: its local name clashes with the decoder's own; rename in the generator.");
        }

        var code = new CodeBuilder().FileHeader();

        string traits = (method.Synchronous ? " Synchronous (expects a reply)." : string.Empty)
            + (method.HasContent ? " Carries content (header and body frames follow)." : string.Empty);
        code.Line($"/// <summary>{dotted}: class {specClass.Id}, method {method.Id}.{traits}</summary>");
        foreach (var field in method.Arguments)
        {
            string defaultText = field.DefaultValue is null ? string.Empty : $"; spec default {field.DefaultValue}";
            code.Line($"/// <param name=\"{Names.Pascal(field.Name)}\">{field.Name} ({field.Type}{Escape(defaultText)}).</param>");
        }

        var parameters = method.Arguments.Select(f => $"{CSharpType(f)} {Names.Pascal(f.Name)}").ToList();
        if (parameters.Count == 0)
        {
            code.Open($"public readonly record struct {name} : IAmqpMethod");
        }
        else if (parameters.Count <= 3)
        {
            code.Open($"public readonly record struct {name}({string.Join(", ", parameters)}) : IAmqpMethod");
        }
        else
        {
            code.Line($"public readonly record struct {name}(");
            for (int i = 0; i < parameters.Count; i++)
            {
                code.Line("    " + parameters[i] + (i == parameters.Count - 1 ? ") : IAmqpMethod" : ","));
            }

            code.Line("{");
            code.Indent();
        }

        code.Line($"public AmqpMethodId Id => AmqpMethodId.{name};");
        code.Line();
        EmitByteCount(code, layout);
        code.Line();
        EmitWriter(code, layout);
        code.Line();
        EmitDecoder(code, specClass, method, name, dotted, layout);
        code.Close();
        return new GeneratedFile($"Methods/{name}.cs", code.ToString());
    }

    private static string CSharpType(SpecField field) => field.Type == "bit" ? "bool" : WireType.For(field.Type).CSharpType;

    private static void EmitByteCount(CodeBuilder code, ArgumentLayout layout)
    {
        var terms = layout.Slots.Select(slot => slot.IsBitOctet
            ? "1"
            : WireType.For(slot.Field!.Type).SizeOf(Names.Pascal(slot.Field.Name))).ToList();
        code.Line($"public int GetArgumentsByteCount() => {(terms.Count == 0 ? "0" : string.Join(" + ", terms))};");
    }

    private static void EmitWriter(CodeBuilder code, ArgumentLayout layout)
    {
        if (layout.Slots.Count == 0)
        {
            code.Line("public int WriteArguments(Span<byte> destination) => 0;");
            return;
        }

        code.Open("public int WriteArguments(Span<byte> destination)");

        code.Line("var writer = new ArgumentWriter(destination);");
        foreach (var slot in layout.Slots)
        {
            if (slot.IsBitOctet)
            {
                var flags = slot.Bits.Select((bit, index) => $"({Names.Pascal(bit.Name)} ? {1 << index} : 0)");
                code.Line($"writer.WriteOctet((byte)({string.Join(" | ", flags)}));");
            }
            else
            {
                code.Line($"writer.{WireType.For(slot.Field!.Type).WriteMethod}({Names.Pascal(slot.Field.Name)});");
            }
        }

        code.Line("return writer.Position;");
        code.Close();
    }

    private static void EmitDecoder(CodeBuilder code, SpecClass specClass, SpecMethod method, string name, string dotted, ArgumentLayout layout)
    {
        code.Line("/// <summary>");
        code.Line("/// Decodes the arguments (the method frame payload after the class and method ids). Strings borrow");
        code.Line($"/// <paramref name=\"{EncodedParameter}\"/>; tables are copies. Fails on truncated input and on leftover bytes.");
        code.Line("/// </summary>");
        code.Open($"public static bool TryDecodeArguments(ReadOnlyMemory<byte> {EncodedParameter}, out {name} method, out AmqpError error)");
        code.Line($"var reader = new ArgumentReader({EncodedParameter});");

        var conditions = new List<string>();
        foreach (var slot in layout.Slots)
        {
            if (slot.IsBitOctet)
            {
                conditions.Add($"reader.TryReadOctet({Names.Literal(slot.Bits[0].Name)}, out byte bits{slot.BitOctetIndex.ToString(CultureInfo.InvariantCulture)})");
            }
            else
            {
                var wire = WireType.For(slot.Field!.Type);
                conditions.Add($"reader.{wire.ReadMethod}({Names.Literal(slot.Field.Name)}, out {wire.CSharpType} {Names.Local(slot.Field.Name)})");
            }
        }

        conditions.Add("reader.TryReadEnd()");
        for (int i = 0; i < conditions.Count; i++)
        {
            string prefix = i == 0 ? "if (" : "    && ";
            string suffix = i == conditions.Count - 1 ? ")" : string.Empty;
            code.Line(prefix + conditions[i] + suffix);
        }

        code.Line("{");
        var values = new List<string>();
        foreach (var slot in layout.Slots)
        {
            if (slot.IsBitOctet)
            {
                string octet = $"bits{slot.BitOctetIndex.ToString(CultureInfo.InvariantCulture)}";
                values.AddRange(slot.Bits.Select((_, index) => $"({octet} & {1 << index}) != 0"));
            }
            else
            {
                values.Add(Names.Local(slot.Field!.Name));
            }
        }

        code.Line(values.Count == 0 ? $"    method = new {name}();" : $"    method = new {name}({string.Join(", ", values)});");
        code.Line("    error = default;");
        code.Line("    return true;");
        code.Line("}");
        code.Line();
        code.Line("method = default;");
        code.Line($"error = reader.ToError({Names.Literal("cannot decode " + dotted)}, {specClass.Id}, {method.Id});");
        code.Line("return false;");
        code.Close();
    }

    private static string Escape(string text) => text.Replace("&", "&amp;", StringComparison.Ordinal).Replace("<", "&lt;", StringComparison.Ordinal).Replace(">", "&gt;", StringComparison.Ordinal);
}
