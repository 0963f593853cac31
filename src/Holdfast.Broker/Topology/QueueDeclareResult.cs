namespace Holdfast.Broker.Topology;

/// <summary>What a queue declare reports: the name (server-chosen when none was given), ready messages and consumers.</summary>
public readonly record struct QueueDeclareResult(string Name, long MessageCount, int ConsumerCount);
