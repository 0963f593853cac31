using System.CommandLine;
using System.Numerics;

namespace Holdfast.LoadTool;

/// <summary>Range checks attached to options, so that a bad value is a usage error before anything touches the disk.</summary>
internal static class OptionRules
{
    public static Option<T> AtLeast<T>(this Option<T> option, T minimum)
        where T : INumber<T>
    {
        option.Validators.Add(result =>
        {
            if (result.GetValueOrDefault<T>() < minimum)
            {
                result.AddError($"{option.Name} must be at least {minimum}.");
            }
        });
        return option;
    }
}
