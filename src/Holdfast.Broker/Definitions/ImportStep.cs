namespace Holdfast.Broker.Definitions;

/// <summary>One change an import will make, with what it creates named for the report and for an error.</summary>
internal sealed record ImportStep(string Kind, string Entity, Func<CancellationToken, Task> ApplyAsync);
