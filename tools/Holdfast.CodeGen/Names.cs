using System.Globalization;
using System.Text;

namespace Holdfast.CodeGen;

/// <summary>Spec names ("update-secret-ok", "FRAME-ERROR") to C# names.</summary>
public static class Names
{
    private static readonly HashSet<string> CSharpKeywords = new(StringComparer.Ordinal)
    {
        "abstract", "as", "base", "bool", "break", "byte", "case", "catch", "char", "checked", "class", "const",
        "continue", "decimal", "default", "delegate", "do", "double", "else", "enum", "event", "explicit", "extern",
        "false", "finally", "fixed", "float", "for", "foreach", "goto", "if", "implicit", "in", "int", "interface",
        "internal", "is", "lock", "long", "namespace", "new", "null", "object", "operator", "out", "override",
        "params", "private", "protected", "public", "readonly", "ref", "return", "sbyte", "sealed", "short",
        "sizeof", "stackalloc", "static", "string", "struct", "switch", "this", "throw", "true", "try", "typeof",
        "uint", "ulong", "unchecked", "unsafe", "ushort", "using", "virtual", "void", "volatile", "while",
    };

    public static string Pascal(string specName)
    {
        var builder = new StringBuilder(specName.Length);
        foreach (string word in specName.Split('-', '_', ' '))
        {
            if (word.Length == 0)
            {
                continue;
            }

            builder.Append(char.ToUpperInvariant(word[0]));
            builder.Append(word[1..].ToLowerInvariant());
        }

        return builder.ToString();
    }

    /// <summary>A local variable name, escaped if it is a keyword ("internal" becomes "@internal").</summary>
    public static string Local(string specName)
    {
        string pascal = Pascal(specName);
        string camel = char.ToLowerInvariant(pascal[0]) + pascal[1..];
        return CSharpKeywords.Contains(camel) ? "@" + camel : camel;
    }

    /// <summary>"FRAME-ERROR" becomes "FRAME_ERROR", the form RabbitMQ puts in reply texts.</summary>
    public static string ReplyText(string specName) => specName.Replace('-', '_').ToUpperInvariant();

    public static string Struct(SpecClass specClass, SpecMethod method) => Pascal(specClass.Name) + Pascal(method.Name);

    public static string Dotted(SpecClass specClass, SpecMethod method) => $"{specClass.Name}.{method.Name}";

    public static string Literal(string text) => "\"" + text.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal) + "\"";

    public static string Hex(uint value, int digits) => "0x" + value.ToString("X" + digits.ToString(CultureInfo.InvariantCulture), CultureInfo.InvariantCulture);
}
