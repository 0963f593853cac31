using Holdfast.CodeGen;

// Usage: Holdfast.CodeGen <spec.json> <output directory> [--check]
// With --check nothing is written: the exit code says whether the folder matches the spec (0) or not (1).
if (args.Length is < 2 or > 3 || (args.Length == 3 && args[2] != "--check"))
{
    Console.Error.WriteLine("usage: Holdfast.CodeGen <amqp-rabbitmq-0.9.1.json> <output directory> [--check]");
    Console.Error.WriteLine($"from the repository root: dotnet run --project tools/Holdfast.CodeGen -- {AmqpCodeGenerator.SpecPathFromRepositoryRoot} {AmqpCodeGenerator.OutputPathFromRepositoryRoot}");
    return 2;
}

string specPath = args[0];
string outputDirectory = args[1];
bool check = args.Length == 3;

var files = AmqpCodeGenerator.Generate(File.ReadAllText(specPath));
if (check)
{
    var differences = GeneratedTree.Compare(outputDirectory, files);
    foreach (string difference in differences)
    {
        Console.Error.WriteLine(difference);
    }

    Console.WriteLine(differences.Count == 0
        ? $"{files.Count} generated files match {specPath}."
        : $"{differences.Count} differences: run without --check to regenerate.");
    return differences.Count == 0 ? 0 : 1;
}

GeneratedTree.Write(outputDirectory, files);
Console.WriteLine($"Wrote {files.Count} files to {outputDirectory}.");
return 0;
