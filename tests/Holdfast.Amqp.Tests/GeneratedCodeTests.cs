using Holdfast.Amqp.Tests.Support;
using Holdfast.CodeGen;

namespace Holdfast.Amqp.Tests;

/// <summary>
/// The committed Codec/Generated folder must be exactly what the generator makes from the spec. CI
/// has ../shared beside its clone; where it is absent these tests are skipped, saying so.
/// </summary>
public sealed class GeneratedCodeTests
{
    private static readonly string GeneratedDirectory = Path.Combine(RepositoryPaths.Root, AmqpCodeGenerator.OutputPathFromRepositoryRoot);

    [SpecFact]
    public void Committed_generated_code_matches_a_fresh_run_of_the_generator()
    {
        var files = AmqpCodeGenerator.Generate(File.ReadAllText(SpecFactAttribute.SpecPath));

        var differences = GeneratedTree.Compare(GeneratedDirectory, files);

        Assert.True(
            differences.Count == 0,
            "Codec/Generated is out of date; regenerate with\n  dotnet run --project tools/Holdfast.CodeGen -- "
            + $"{AmqpCodeGenerator.SpecPathFromRepositoryRoot} {AmqpCodeGenerator.OutputPathFromRepositoryRoot}\n"
            + string.Join("\n", differences));
    }

    [SpecFact]
    public void The_generator_is_deterministic()
    {
        string spec = File.ReadAllText(SpecFactAttribute.SpecPath);

        var first = AmqpCodeGenerator.Generate(spec);
        var second = AmqpCodeGenerator.Generate(spec);

        Assert.Equal(first, second);
        Assert.All(first, file => Assert.DoesNotContain('\r', file.Content));
    }

    [SpecFact]
    public void Every_class_and_method_in_the_spec_is_generated()
    {
        var spec = AmqpSpec.Parse(File.ReadAllText(SpecFactAttribute.SpecPath));
        var generated = typeof(Holdfast.Amqp.Codec.IAmqpMethod).Assembly.GetTypes()
            .Where(t => t.IsValueType && typeof(Holdfast.Amqp.Codec.IAmqpMethod).IsAssignableFrom(t))
            .Select(t => t.Name)
            .ToHashSet();

        var expected = spec.Classes.SelectMany(c => c.Methods.Select(m => Names.Struct(c, m))).ToList();

        Assert.Equal(["connection", "channel", "access", "exchange", "queue", "basic", "tx", "confirm"], spec.Classes.Select(c => c.Name));
        Assert.Equal(expected.Count, generated.Count);
        Assert.All(expected, name => Assert.Contains(name, generated));
    }

    [Fact]
    public void A_spec_with_an_unknown_wire_type_stops_the_generator()
    {
        const string spec = """
            {"major-version": 0, "minor-version": 9, "revision": 1, "port": 5672, "domains": [], "constants": [],
             "classes": [{"id": 1, "name": "x", "methods": [{"id": 1, "name": "y", "arguments": [{"type": "uuid", "name": "z"}]}]}]}
            """;

        var exception = Assert.Throws<InvalidDataException>(() => AmqpCodeGenerator.Generate(spec));
        Assert.Contains("uuid", exception.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Nine_bits_in_a_row_take_two_octets()
    {
        var bits = Enumerable.Range(0, 9).Select(i => new SpecField($"b{i}", "bit", null)).ToList();

        var layout = ArgumentLayout.Of(bits);

        Assert.Equal(2, layout.Slots.Count);
        Assert.Equal(8, layout.Slots[0].Bits.Count);
        Assert.Single(layout.Slots[1].Bits);
    }
}
