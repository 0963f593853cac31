namespace Holdfast.LoadTool;

/// <summary>Append latency percentiles in microseconds, as printed in the JSON line.</summary>
internal sealed record LatencySummary(double P50, double P99, double P999, double Max);
