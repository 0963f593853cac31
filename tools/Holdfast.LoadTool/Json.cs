using System.Text.Json;

namespace Holdfast.LoadTool;

/// <summary>Results go out as one JSON object per line, snake_case, so a script can collect them with jq.</summary>
internal static class Json
{
    private static readonly JsonSerializerOptions Options = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        WriteIndented = false,
    };

    public static string Line<T>(T value) => JsonSerializer.Serialize(value, Options);
}
