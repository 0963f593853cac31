namespace Holdfast.Storage.Tests.Fixtures;

/// <summary>A fact that runs only when HOLDFAST_REGENERATE_FIXTURES=1: for generators of committed fixtures, skipped otherwise.</summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class RegenerationFactAttribute : FactAttribute
{
    public const string Variable = "HOLDFAST_REGENERATE_FIXTURES";

    public RegenerationFactAttribute()
    {
        if (Environment.GetEnvironmentVariable(Variable) != "1")
        {
            Skip = $"Writes a committed fixture; set {Variable}=1 to run it.";
        }
    }
}
