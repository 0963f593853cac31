namespace Holdfast.CodeGen;

/// <summary>
/// Spec JSON in, generated files out, as pure data: no clock, no machine paths, the spec's own
/// order throughout, LF line endings. Running it twice gives identical bytes, which is what lets a
/// test compare the committed files with a fresh run.
/// </summary>
public static class AmqpCodeGenerator
{
    public const string SpecFileName = "amqp-rabbitmq-0.9.1.json";

    public const string Namespace = "Holdfast.Amqp.Codec";

    /// <summary>Where the spec sits relative to the repository root: in ../shared, beside the clone.</summary>
    public static readonly string SpecPathFromRepositoryRoot = Path.Combine("..", "shared", "spec", "amqp0-9-1", SpecFileName);

    /// <summary>Where the output goes, relative to the repository root.</summary>
    public static readonly string OutputPathFromRepositoryRoot = Path.Combine("src", "Holdfast.Amqp", "Codec", "Generated");

    public static IReadOnlyList<GeneratedFile> Generate(string specJson)
    {
        var spec = AmqpSpec.Parse(specJson);
        CheckUnique(spec);

        var files = new List<GeneratedFile>();
        files.AddRange(ConstantsEmitter.Emit(spec));
        files.AddRange(IdsEmitter.Emit(spec));
        files.Add(DecoderEmitter.Emit(spec));
        foreach (var specClass in spec.Classes)
        {
            if (specClass.Properties.Count > 0)
            {
                files.Add(PropertiesEmitter.Emit(specClass));
            }

            foreach (var method in specClass.Methods)
            {
                files.Add(MethodEmitter.Emit(specClass, method));
            }
        }

        return files;
    }

    /// <summary>Two methods with one id, or one name, would make a decoder that silently picks one.</summary>
    private static void CheckUnique(AmqpSpec spec)
    {
        var classIds = new HashSet<int>();
        var methodIds = new HashSet<uint>();
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var specClass in spec.Classes)
        {
            if (!classIds.Add(specClass.Id))
            {
                throw new InvalidDataException($"Class id {specClass.Id} ({specClass.Name}) appears twice.");
            }

            foreach (var method in specClass.Methods)
            {
                if (!methodIds.Add(IdsEmitter.CombinedId(specClass, method)) || !names.Add(Names.Struct(specClass, method)))
                {
                    throw new InvalidDataException($"{Names.Dotted(specClass, method)} clashes with another method's id or name.");
                }
            }
        }
    }
}
