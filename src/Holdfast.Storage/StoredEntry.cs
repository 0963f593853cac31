namespace Holdfast.Storage;

/// <summary>A live message of a queue as the index knows it: its sequence number, delivery count and record size, without its payload.</summary>
public readonly record struct StoredEntry(long Seq, int DeliveryCount, int RecordLength);
