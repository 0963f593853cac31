using Holdfast.CodeGen;

namespace Holdfast.Amqp.Tests.Support;

/// <summary>
/// A fact that needs ../shared/spec beside the repository (CI has it, read-only); without it the
/// test is reported as skipped, with the path it looked for, rather than passing silently.
/// </summary>
[AttributeUsage(AttributeTargets.Method)]
internal sealed class SpecFactAttribute : FactAttribute
{
    public SpecFactAttribute()
    {
        if (!File.Exists(SpecPath))
        {
            Skip = $"AMQP spec not found at {SpecPath}: the generated-code check needs ../shared/spec beside the repository.";
        }
    }

    public static string SpecPath { get; } = Path.GetFullPath(Path.Combine(RepositoryPaths.Root, AmqpCodeGenerator.SpecPathFromRepositoryRoot));
}
