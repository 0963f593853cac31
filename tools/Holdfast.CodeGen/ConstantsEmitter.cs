using System.Globalization;

namespace Holdfast.CodeGen;

/// <summary>
/// Frame types, protocol constants and reply codes. The spec's constants list mixes all three; each
/// keeps the spec's order, and a constant the generator cannot place stops it.
/// </summary>
public static class ConstantsEmitter
{
    private const string FrameTypePrefix = "FRAME-";
    private const string ReplyPrefix = "REPLY-";
    private static readonly HashSet<string> ProtocolConstants = new(StringComparer.Ordinal) { "FRAME-MIN-SIZE", "FRAME-END" };

    public static IEnumerable<GeneratedFile> Emit(AmqpSpec spec)
    {
        var frameTypes = new List<SpecConstant>();
        var replyCodes = new List<SpecConstant>();
        foreach (var constant in spec.Constants)
        {
            if (ProtocolConstants.Contains(constant.Name))
            {
                continue;
            }

            if (constant.ErrorClass is not null || constant.Name.StartsWith(ReplyPrefix, StringComparison.Ordinal))
            {
                replyCodes.Add(constant);
            }
            else if (constant.Name.StartsWith(FrameTypePrefix, StringComparison.Ordinal))
            {
                frameTypes.Add(constant);
            }
            else
            {
                throw new InvalidDataException($"Constant {constant.Name} is neither a frame type, a reply code nor a known protocol constant.");
            }
        }

        yield return EmitFrameType(frameTypes);
        yield return EmitProtocolConstants(spec);
        yield return EmitReplyCode(replyCodes);
        yield return EmitReplyCodes(replyCodes);
    }

    private static GeneratedFile EmitFrameType(List<SpecConstant> frameTypes)
    {
        var code = new CodeBuilder().FileHeader();
        code.Line("/// <summary>The type octet that opens every frame.</summary>");
        code.Open("public enum FrameType : byte");
        foreach (var constant in frameTypes)
        {
            code.Line($"{Names.Pascal(constant.Name[FrameTypePrefix.Length..])} = {Number(constant.Value)},");
        }

        code.Close();
        return new GeneratedFile("FrameType.cs", code.ToString());
    }

    private static GeneratedFile EmitProtocolConstants(AmqpSpec spec)
    {
        int Value(string name) => spec.Constants.Single(c => c.Name == name).Value;

        var code = new CodeBuilder().FileHeader();
        code.Open("public static class AmqpConstants");
        code.Line("public const byte ProtocolMajor = " + Number(spec.MajorVersion) + ";");
        code.Line("public const byte ProtocolMinor = " + Number(spec.MinorVersion) + ";");
        code.Line("public const byte ProtocolRevision = " + Number(spec.Revision) + ";");
        code.Line("public const int DefaultPort = " + Number(spec.Port) + ";");
        code.Line();
        code.Line("/// <summary>Smallest frame-max a peer may set; also the limit before connection.tune-ok.</summary>");
        code.Line("public const uint FrameMinSize = " + Number(Value("FRAME-MIN-SIZE")) + ";");
        code.Line();
        code.Line("/// <summary>The octet that closes every frame.</summary>");
        code.Line("public const byte FrameEnd = " + Names.Hex((uint)Value("FRAME-END"), 2) + ";");
        code.Close();
        return new GeneratedFile("AmqpConstants.cs", code.ToString());
    }

    private static string ReplyMember(SpecConstant constant) =>
        Names.Pascal(constant.Name.StartsWith(ReplyPrefix, StringComparison.Ordinal) ? constant.Name[ReplyPrefix.Length..] : constant.Name);

    private static GeneratedFile EmitReplyCode(List<SpecConstant> replyCodes)
    {
        var code = new CodeBuilder().FileHeader();
        code.Line("/// <summary>");
        code.Line("/// Reply codes of channel.close and connection.close. Soft errors close the channel, hard errors");
        code.Line("/// the connection.");
        code.Line("/// </summary>");
        code.Open("public enum ReplyCode : ushort");
        foreach (var constant in replyCodes)
        {
            string kind = constant.ErrorClass is null ? string.Empty : $" ({constant.ErrorClass})";
            code.Line($"/// <summary>{Names.ReplyText(constant.Name)}{kind}.</summary>");
            code.Line($"{ReplyMember(constant)} = {Number(constant.Value)},");
        }

        code.Close();
        return new GeneratedFile("ReplyCode.cs", code.ToString());
    }

    private static GeneratedFile EmitReplyCodes(List<SpecConstant> replyCodes)
    {
        var code = new CodeBuilder().FileHeader();
        code.Open("public static class ReplyCodes");
        code.Line("/// <summary>The spec's name in reply-text form, \"FRAME_ERROR\"; the number for codes the spec does not name.</summary>");
        code.Line("public static string Name(ReplyCode code) => code switch");
        code.Line("{");
        foreach (var constant in replyCodes)
        {
            code.Line($"    ReplyCode.{ReplyMember(constant)} => {Names.Literal(Names.ReplyText(constant.Name))},");
        }

        code.Line("    _ => ((ushort)code).ToString(System.Globalization.CultureInfo.InvariantCulture),");
        code.Line("};");
        code.Line();
        code.Line("/// <summary>A hard error closes the connection; any other error closes only the channel.</summary>");
        code.Line("public static bool IsHardError(ReplyCode code) => code switch");
        code.Line("{");
        var hard = replyCodes.Where(c => c.ErrorClass == "hard-error").Select(c => "ReplyCode." + ReplyMember(c)).ToList();
        code.Line($"    {string.Join(" or ", hard)} => true,");
        code.Line("    _ => false,");
        code.Line("};");
        code.Close();
        return new GeneratedFile("ReplyCodes.cs", code.ToString());
    }

    private static string Number(int value) => value.ToString(CultureInfo.InvariantCulture);
}
