namespace Holdfast.CodeGen;

/// <summary>The dispatch from a method frame payload to the right struct.</summary>
public static class DecoderEmitter
{
    public static GeneratedFile Emit(AmqpSpec spec)
    {
        var code = new CodeBuilder().FileHeader(["System.Buffers.Binary", "System.Diagnostics.CodeAnalysis"]);
        code.Line("/// <summary>");
        code.Line("/// Decodes method frame payloads: class id, method id, arguments. A hot path switches on");
        code.Line("/// <see cref=\"TryReadMethodId\"/> and calls the struct's own TryDecodeArguments, which does not");
        code.Line("/// box; <see cref=\"TryDecode\"/> returns the struct boxed, for everything else.");
        code.Line("/// </summary>");
        code.Open("public static class AmqpMethodDecoder");
        code.Line("/// <summary>Reads the class and method ids; an unknown pair is COMMAND_INVALID.</summary>");
        code.Open("public static bool TryReadMethodId(ReadOnlySpan<byte> payload, out AmqpMethodId id, out AmqpError error)");
        code.Open("if (payload.Length < 4)");
        code.Line("id = default;");
        code.Line("error = new AmqpError(ReplyCode.FrameError, $\"method frame payload of {payload.Length} bytes is too short for a class and method id\");");
        code.Line("return false;");
        code.Close();
        code.Line();
        code.Line("id = (AmqpMethodId)BinaryPrimitives.ReadUInt32BigEndian(payload);");
        code.Open("if (!AmqpMethodInfo.IsDefined(id))");
        code.Line("ushort classId = AmqpMethodInfo.ClassIdOf(id);");
        code.Line("ushort methodId = AmqpMethodInfo.MethodIndexOf(id);");
        code.Line("error = new AmqpError(ReplyCode.CommandInvalid, $\"unknown method: class {classId}, method {methodId}\", classId, methodId);");
        code.Line("return false;");
        code.Close();
        code.Line();
        code.Line("error = default;");
        code.Line("return true;");
        code.Close();
        code.Line();
        code.Open("public static bool TryDecode(ReadOnlyMemory<byte> payload, [NotNullWhen(true)] out IAmqpMethod? method, out AmqpError error)");
        code.Line("method = null;");
        code.Open("if (!TryReadMethodId(payload.Span, out var id, out error))");
        code.Line("return false;");
        code.Close();
        code.Line();
        code.Line("var arguments = payload[4..];");
        code.Open("switch (id)");
        foreach (var specClass in spec.Classes)
        {
            foreach (var method in specClass.Methods)
            {
                string name = Names.Struct(specClass, method);
                string local = char.ToLowerInvariant(name[0]) + name[1..];
                code.Line($"case AmqpMethodId.{name}:");
                code.Indent();
                code.Open($"if ({name}.TryDecodeArguments(arguments, out var {local}, out error))");
                code.Line($"method = {local};");
                code.Line("return true;");
                code.Close();
                code.Line();
                code.Line("return false;");
                code.Outdent();
            }
        }

        code.Line("default:");
        code.Line("    throw new InvalidOperationException($\"{id} is defined but has no decoder.\");");
        code.Close();
        code.Close();
        code.Close();
        return new GeneratedFile("AmqpMethodDecoder.cs", code.ToString());
    }
}
