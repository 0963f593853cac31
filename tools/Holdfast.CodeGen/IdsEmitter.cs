namespace Holdfast.CodeGen;

/// <summary>Class ids, method ids and what the spec says about each method.</summary>
public static class IdsEmitter
{
    public static IEnumerable<GeneratedFile> Emit(AmqpSpec spec)
    {
        yield return EmitClassId(spec);
        yield return EmitMethodId(spec);
        yield return EmitMethodInfo(spec);
    }

    public static uint CombinedId(SpecClass specClass, SpecMethod method) => ((uint)specClass.Id << 16) | (uint)method.Id;

    private static IEnumerable<(SpecClass Class, SpecMethod Method)> AllMethods(AmqpSpec spec) =>
        spec.Classes.SelectMany(c => c.Methods.Select(m => (c, m)));

    private static GeneratedFile EmitClassId(AmqpSpec spec)
    {
        var code = new CodeBuilder().FileHeader();
        code.Open("public enum AmqpClassId : ushort");
        foreach (var specClass in spec.Classes)
        {
            code.Line($"{Names.Pascal(specClass.Name)} = {specClass.Id},");
        }

        code.Close();
        return new GeneratedFile("AmqpClassId.cs", code.ToString());
    }

    private static GeneratedFile EmitMethodId(AmqpSpec spec)
    {
        var code = new CodeBuilder().FileHeader();
        code.Line("/// <summary>");
        code.Line("/// A method as (class id &lt;&lt; 16) | method id: the first four bytes of a method frame's payload");
        code.Line("/// read as one big-endian number.");
        code.Line("/// </summary>");
        code.Open("public enum AmqpMethodId : uint");
        foreach (var (specClass, method) in AllMethods(spec))
        {
            code.Line($"/// <summary>{Names.Dotted(specClass, method)} ({specClass.Id}, {method.Id}).</summary>");
            code.Line($"{Names.Struct(specClass, method)} = {Names.Hex(CombinedId(specClass, method), 8)},");
        }

        code.Close();
        return new GeneratedFile("AmqpMethodId.cs", code.ToString());
    }

    private static GeneratedFile EmitMethodInfo(AmqpSpec spec)
    {
        var methods = AllMethods(spec).ToList();
        var code = new CodeBuilder().FileHeader();
        code.Open("public static class AmqpMethodInfo");
        code.Line("public static ushort ClassIdOf(AmqpMethodId id) => (ushort)((uint)id >> 16);");
        code.Line();
        code.Line("/// <summary>The method's id within its class, the second short of the payload.</summary>");
        code.Line("public static ushort MethodIndexOf(AmqpMethodId id) => (ushort)((uint)id & 0xFFFF);");
        code.Line();
        code.Line("public static bool IsDefined(AmqpMethodId id) => id switch");
        code.Line("{");
        code.Line($"    {string.Join(" or ", methods.Select(m => "AmqpMethodId." + Names.Struct(m.Class, m.Method)))} => true,");
        code.Line("    _ => false,");
        code.Line("};");
        code.Line();
        code.Line("/// <summary>The spec's dotted name, \"basic.publish\"; the ids for an unknown method.</summary>");
        code.Line("public static string Name(AmqpMethodId id) => id switch");
        code.Line("{");
        foreach (var (specClass, method) in methods)
        {
            code.Line($"    AmqpMethodId.{Names.Struct(specClass, method)} => {Names.Literal(Names.Dotted(specClass, method))},");
        }

        code.Line("    _ => $\"unknown method ({ClassIdOf(id)}, {MethodIndexOf(id)})\",");
        code.Line("};");
        code.Line();
        code.Line("/// <summary>Whether a content header and body frames follow the method.</summary>");
        EmitPredicate(code, "HasContent", methods.Where(m => m.Method.HasContent));
        code.Line();
        code.Line("/// <summary>Whether the sender waits for a reply method (the spec's \"synchronous\").</summary>");
        EmitPredicate(code, "IsSynchronous", methods.Where(m => m.Method.Synchronous));
        code.Close();
        return new GeneratedFile("AmqpMethodInfo.cs", code.ToString());
    }

    private static void EmitPredicate(CodeBuilder code, string name, IEnumerable<(SpecClass Class, SpecMethod Method)> matching)
    {
        var members = matching.Select(m => "AmqpMethodId." + Names.Struct(m.Class, m.Method)).ToList();
        code.Line($"public static bool {name}(AmqpMethodId id) => id switch");
        code.Line("{");
        if (members.Count > 0)
        {
            code.Line($"    {string.Join(" or ", members)} => true,");
        }

        code.Line("    _ => false,");
        code.Line("};");
    }
}
